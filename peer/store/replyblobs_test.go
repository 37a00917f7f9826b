package store

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

// blobT stores data as a blob and returns its attachment.
func blobT(t *testing.T, s *Store, data string) *postv1.Attachment {
	t.Helper()
	a, err := s.PutBlob(bytes.NewReader([]byte(data)))
	if err != nil {
		t.Fatal(err)
	}
	a.MediaType = "image/jpeg"
	return a
}

// replyT seals a reply by k to (host, pid), version v, with atts.
func replyT(t *testing.T, k *identity.Key, host identity.PublicKey, pid post.ID, id post.ID, v uint64, public bool, atts ...*postv1.Attachment) (*signedv1.Envelope, *postv1.Reply) {
	t.Helper()
	env, r, err := post.SealReply(k, post.ReplyDraft{ID: id, Version: v, Now: time.Now(), PostAuthor: host, PostID: pid, Text: "look",
		Public: public, Attachments: atts})
	if err != nil {
		t.Fatal(err)
	}
	return env, r
}

func hasBlobT(t *testing.T, s *Store, a *postv1.Attachment) bool {
	t.Helper()
	ok, err := s.HasBlob(a.GetSha256())
	if err != nil {
		t.Fatal(err)
	}
	_, statErr := os.Stat(s.blobPath(a.GetSha256()))
	if ok != (statErr == nil) {
		t.Fatalf("blob %x: indexed %v, file there %v", a.GetSha256()[:4], ok, statErr == nil)
	}
	return ok
}

// TestReplyBlobRefs: a hosted reply holds its photo only when the photo is stored; a
// new version that keeps it keeps it, one without it lets it go, unless a post or
// another reply still attaches it; DropUnreferenced takes only what nothing refers to.
func TestReplyBlobRefs(t *testing.T) {
	s, me, bob, pid := hostsFriendsPost(t)
	photo := blobT(t, s, "a photo of the sea")
	rid := post.ID{1}

	missing := &postv1.Attachment{Sha256: bytes.Repeat([]byte{7}, 32), Size: 5}
	env, r := replyT(t, bob, me.Public(), pid, rid, 1, false, missing)
	if _, err := s.HostReply(bob.Public(), env, r); !errors.Is(err, ErrBlobMissing) {
		t.Fatalf("a reply whose photo is not here: %v, want ErrBlobMissing", err)
	}
	wrongSize := &postv1.Attachment{Sha256: photo.GetSha256(), Size: photo.GetSize() + 1}
	env, r = replyT(t, bob, me.Public(), pid, rid, 1, false, wrongSize)
	if _, err := s.HostReply(bob.Public(), env, r); !errors.Is(err, ErrBlobMissing) {
		t.Fatalf("a reply naming the photo with another size: %v, want ErrBlobMissing", err)
	}

	for _, step := range []struct {
		name    string
		version uint64
		atts    []*postv1.Attachment
		held    bool
	}{
		{"version 1 with the photo", 1, []*postv1.Attachment{photo}, true},
		{"version 2 keeps it", 2, []*postv1.Attachment{photo}, true},
		{"version 3 without it", 3, nil, false},
	} {
		env, r := replyT(t, bob, me.Public(), pid, rid, step.version, false, step.atts...)
		if _, err := s.HostReply(bob.Public(), env, r); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := hasBlobT(t, s, photo); got != step.held {
			t.Errorf("%s: photo held %v, want %v", step.name, got, step.held)
		}
	}

	// A photo both a post and a reply attach stays while either does.
	shared := blobT(t, s, "attached twice")
	if _, err := s.Publish(NewPost{Text: "mine too", Audience: feed.Default(), Attachments: []*postv1.Attachment{shared}}); err != nil {
		t.Fatal(err)
	}
	env, r = replyT(t, bob, me.Public(), pid, post.ID{2}, 1, false, shared)
	if _, err := s.HostReply(bob.Public(), env, r); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveReply(pid, bob.Public(), post.ID{2}); err != nil {
		t.Fatal(err)
	}
	if !hasBlobT(t, s, shared) {
		t.Error("removing a reply took a photo a post still attaches")
	}
	loose := blobT(t, s, "nobody attaches this")
	if err := s.DropUnreferenced([]*postv1.Attachment{shared, loose}); err != nil {
		t.Fatal(err)
	}
	if !hasBlobT(t, s, shared) || hasBlobT(t, s, loose) {
		t.Errorf("DropUnreferenced: shared held %v (want true), loose held %v (want false)", hasBlobT(t, s, shared), hasBlobT(t, s, loose))
	}
	if err := s.DropUnreferenced(nil); err != nil {
		t.Errorf("DropUnreferenced(nil): %v", err)
	}
}

// TestReplyBlobWanted: a photo is taken only from the reply's own author, a friend who
// may see the post, for a reply not removed, when the reply attaches it; and it says
// whether the photo is here already, at its size.
func TestReplyBlobWanted(t *testing.T) {
	s, me := initT(t)
	bob, dave, eve := newKey(t), newKey(t), newKey(t)
	for _, f := range []Friend{{Key: bob.Public(), Name: "Bob", Groups: []string{"close"}}, {Key: dave.Public(), Name: "Dave"}} {
		if err := s.PutFriend(f); err != nil {
			t.Fatal(err)
		}
	}
	pid, err := s.Publish(NewPost{Text: "close", Audience: feed.Audience{Groups: []string{"close"}}})
	if err != nil {
		t.Fatal(err)
	}
	held := blobT(t, s, "held here")
	notHeld := &postv1.Attachment{Sha256: bytes.Repeat([]byte{9}, 32), Size: 3}
	_, r := replyT(t, bob, me.Public(), pid, post.ID{1}, 1, false, held, notHeld)
	_, daves := replyT(t, dave, me.Public(), pid, post.ID{1}, 1, false, notHeld)
	_, eves := replyT(t, eve, me.Public(), pid, post.ID{1}, 1, false, notHeld)
	_, public := replyT(t, bob, me.Public(), pid, post.ID{1}, 1, true, notHeld)
	for _, tc := range []struct {
		name     string
		from     identity.PublicKey
		r        *postv1.Reply
		sha      []byte
		want     error
		wantHeld bool
	}{
		{"a held photo", bob.Public(), r, held.GetSha256(), nil, true},
		{"a photo not here yet", bob.Public(), r, notHeld.GetSha256(), nil, false},
		{"a blob the reply does not attach", bob.Public(), r, bytes.Repeat([]byte{1}, 32), post.ErrInvalid, false},
		{"someone else's reply", dave.Public(), r, notHeld.GetSha256(), ErrNotYours, false},
		{"a friend outside the audience", dave.Public(), daves, notHeld.GetSha256(), ErrNoSuchPost, false},
		{"a stranger", eve.Public(), eves, notHeld.GetSha256(), ErrNotFriend, false},
		{"a public reply to a private post", bob.Public(), public, notHeld.GetSha256(), post.ErrInvalid, false},
	} {
		att, got, err := s.ReplyBlobWanted(tc.from, tc.r, tc.sha)
		if !errors.Is(err, tc.want) || got != tc.wantHeld || (err == nil) != (att != nil) {
			t.Errorf("%s: %v, held %v, %v; want %v, held %v", tc.name, att, got, err, tc.want, tc.wantHeld)
		}
		if err == nil && !bytes.Equal(att.GetSha256(), tc.sha) {
			t.Errorf("%s: answered attachment %x, want %x", tc.name, att.GetSha256(), tc.sha)
		}
	}
	// A held blob of another size is not this attachment.
	_, odd := replyT(t, bob, me.Public(), pid, post.ID{3}, 1, false, &postv1.Attachment{Sha256: held.GetSha256(), Size: held.GetSize() + 1})
	if _, got, err := s.ReplyBlobWanted(bob.Public(), odd, held.GetSha256()); err != nil || got {
		t.Errorf("a held blob named with another size: held %v, %v; want false", got, err)
	}
	// A removed reply's photo is refused.
	env, rm := replyT(t, bob, me.Public(), pid, post.ID{4}, 1, false, held)
	if _, err := s.HostReply(bob.Public(), env, rm); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveReply(pid, bob.Public(), post.ID{4}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ReplyBlobWanted(bob.Public(), rm, held.GetSha256()); !errors.Is(err, ErrRemoved) {
		t.Errorf("a removed reply's photo: %v, want ErrRemoved", err)
	}
}

// TestReplyBlobVisible: a hosted reply's photo goes to exactly those the reply goes to:
// the post's private audience, and for a public post anyone (its replies are public);
// a friend outside the audience and a stranger get a private post's reply photo no
// more than the post. A photo of a conversation held as a reader is served to nobody.
func TestReplyBlobVisible(t *testing.T) {
	s, me := initT(t)
	bob, carol, dave, eve := newKey(t), newKey(t), newKey(t), newKey(t)
	for _, f := range []Friend{{Key: bob.Public(), Name: "Bob", Groups: []string{"close"}}, {Key: carol.Public(), Name: "Carol", Groups: []string{"close"}},
		{Key: dave.Public(), Name: "Dave"}} {
		if err := s.PutFriend(f); err != nil {
			t.Fatal(err)
		}
	}
	private, err := s.Publish(NewPost{Text: "close", Audience: feed.Audience{Groups: []string{"close"}}})
	if err != nil {
		t.Fatal(err)
	}
	public, err := s.Publish(NewPost{Text: "all", Audience: feed.Audience{Public: true}})
	if err != nil {
		t.Fatal(err)
	}
	pp, pp2, pub := blobT(t, s, "private reply photo"), blobT(t, s, "its second photo"), blobT(t, s, "public reply photo")
	for _, rec := range []struct {
		pid    post.ID
		public bool
		atts   []*postv1.Attachment
	}{{private, false, []*postv1.Attachment{pp, pp2}}, {public, true, []*postv1.Attachment{pub}}} {
		env, r := replyT(t, bob, me.Public(), rec.pid, post.ID{5}, 1, rec.public, rec.atts...)
		if _, err := s.HostReply(bob.Public(), env, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		who  identity.PublicKey
		att  *postv1.Attachment
		want bool
	}{
		{"the replier", bob.Public(), pp, true},
		{"another member", carol.Public(), pp, true},
		{"another member, the second photo", carol.Public(), pp2, true},
		{"a stranger, the second photo", eve.Public(), pp2, false},
		{"a friend outside the audience", dave.Public(), pp, false},
		{"a stranger", eve.Public(), pp, false},
		{"a friend, a public post's reply", dave.Public(), pub, true},
		{"a stranger, a public post's reply", eve.Public(), pub, true},
	} {
		if got, err := s.BlobVisible(tc.who, tc.att.GetSha256()); err != nil || got != tc.want {
			t.Errorf("%s: visible %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}

	// As a reader: Bob's post, Carol's reply with a photo, pulled; nobody is served it
	// from here.
	bobsPost := publishAs(t, bob, "bob's")
	photo := blobT(t, s, "carol's photo on bob's post")
	env, r := replyT(t, carol, bob.Public(), post.ID(bobsPost.Payload.GetId()), post.ID{6}, 1, false, photo)
	if _, err := s.Apply(bob.Public(), Batch{Posts: []Verified{bobsPost}, Cursor: 1, Conversations: []HeldConversation{{
		PostID: post.ID(bobsPost.Payload.GetId()), Replies: []VerifiedReply{{Envelope: env, Reply: r}}}}}); err != nil {
		t.Fatal(err)
	}
	for _, who := range []identity.PublicKey{bob.Public(), carol.Public(), dave.Public()} {
		if got, err := s.BlobVisible(who, photo.GetSha256()); err != nil || got {
			t.Errorf("a reader served a held reply's photo to %s: %v, %v", who.Short(), got, err)
		}
	}
	if !hasBlobT(t, s, photo) {
		t.Error("the reader did not keep the photo of the reply it holds")
	}
	// The host's next answer has the reply no more: the photo leaves.
	if _, err := s.Apply(bob.Public(), Batch{Cursor: 2, Conversations: []HeldConversation{{PostID: post.ID(bobsPost.Payload.GetId())}}}); err != nil {
		t.Fatal(err)
	}
	if hasBlobT(t, s, photo) {
		t.Error("the reader kept the photo of a reply its host no longer serves")
	}
}

// TestPostByID: a post is found by its id alone, own or a friend's; an unknown id is
// ErrNotFound.
func TestPostByID(t *testing.T) {
	s, _ := initT(t)
	bob := newKey(t)
	if err := s.PutFriend(Friend{Key: bob.Public(), Name: "Bob"}); err != nil {
		t.Fatal(err)
	}
	mine, err := s.Publish(NewPost{Text: "mine", Audience: feed.Default()})
	if err != nil {
		t.Fatal(err)
	}
	bobs := publishAs(t, bob, "bob's")
	if _, err := s.Apply(bob.Public(), Batch{Posts: []Verified{bobs}, Cursor: 1}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id   post.ID
		text string
	}{{mine, "mine"}, {post.ID(bobs.Payload.GetId()), "bob's"}} {
		st, err := s.PostByID(tc.id)
		if err != nil || st.Payload.GetText() != tc.text {
			t.Errorf("PostByID(%s): %q, %v; want %q", tc.id, st.Payload.GetText(), err, tc.text)
		}
	}
	if _, err := s.PostByID(post.ID{0xee}); !errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown id: %v, want ErrNotFound", err)
	}
}

// publishAs seals a post by k, as a friend's node would serve it.
func publishAs(t *testing.T, k *identity.Key, text string) Verified {
	t.Helper()
	env, p, err := post.Seal(k, post.Draft{Text: text, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return Verified{Envelope: env, Payload: p}
}
