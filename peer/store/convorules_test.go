package store

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

func sealReply(t *testing.T, k *identity.Key, d post.ReplyDraft) (*signedv1.Envelope, *postv1.Reply) {
	t.Helper()
	if d.Now.IsZero() {
		d.Now = time.Now()
	}
	env, r, err := post.SealReply(k, d)
	if err != nil {
		t.Fatal(err)
	}
	return env, r
}

func sealReaction(t *testing.T, k *identity.Key, d post.ReactionDraft) (*signedv1.Envelope, *postv1.Reaction) {
	t.Helper()
	if d.Now.IsZero() {
		d.Now = time.Now()
	}
	env, r, err := post.SealReaction(k, d)
	if err != nil {
		t.Fatal(err)
	}
	return env, r
}

// conversation returns the records viewer may see of an own post's conversation, and
// how many pages of at most n they came in.
func conversation(s *Store, viewer identity.PublicKey, pid post.ID, n int) ([]Record, int, error) {
	var out []Record
	pages := 0
	err := s.Conversation(viewer, pid, n, func(rs []Record) error {
		if len(rs) > n {
			return errors.New("a page over n records")
		}
		pages++
		out = append(out, rs...)
		return nil
	})
	return out, pages, err
}

// TestConversationRules: only a friend who may see an own post may hand over a record
// for it, signed by that friend, with the post's visibility; a friend of another group
// and a stranger see such a post's conversation exactly as an unknown post's.
func TestConversationRules(t *testing.T) {
	s, me := initT(t)
	closeF, work, stranger := newKey(t), newKey(t), newKey(t)
	if err := s.PutFriend(Friend{Key: closeF.Public(), Name: "Close", Groups: []string{"close"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutFriend(Friend{Key: work.Public(), Name: "Work", Groups: []string{"work"}}); err != nil {
		t.Fatal(err)
	}
	closeOnly, err := s.Publish(NewPost{Text: "for close", Audience: feed.Audience{Groups: []string{"close"}}})
	if err != nil {
		t.Fatal(err)
	}
	public, err := s.Publish(NewPost{Text: "for all", Audience: feed.Audience{Public: true}})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := s.Publish(NewPost{Text: "deleted soon", Audience: feed.Default()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(gone); err != nil {
		t.Fatal(err)
	}
	own := me.Public()

	env, r := sealReply(t, closeF, post.ReplyDraft{PostAuthor: own, PostID: closeOnly, Text: "v1"})
	if changed, err := s.HostReply(closeF.Public(), env, r); err != nil || !changed {
		t.Fatalf("a close friend's reply: %v, %v", changed, err)
	}
	env2, r2 := sealReply(t, closeF, post.ReplyDraft{ID: post.ID(r.GetId()), Version: 2, PostAuthor: own, PostID: closeOnly, Text: "v2"})
	if changed, err := s.HostReply(closeF.Public(), env2, r2); err != nil || !changed {
		t.Fatalf("its version 2: %v, %v", changed, err)
	}
	if changed, err := s.HostReply(closeF.Public(), env, r); err != nil || changed {
		t.Fatalf("version 1 after 2: changed %v, %v; want nothing changed", changed, err)
	}
	renv, rr := sealReaction(t, closeF, post.ReactionDraft{PostAuthor: own, PostID: closeOnly, Emoji: "👍"})
	if changed, err := s.HostReaction(closeF.Public(), renv, rr); err != nil || !changed {
		t.Fatalf("a close friend's reaction: %v, %v", changed, err)
	}
	if changed, err := s.HostReaction(closeF.Public(), renv, rr); err != nil || changed {
		t.Fatalf("the same reaction again: %v, %v; want nothing changed", changed, err)
	}
	penv, pr := sealReply(t, work, post.ReplyDraft{PostAuthor: own, PostID: public, Text: "public", Public: true})
	if _, err := s.HostReply(work.Public(), penv, pr); err != nil {
		t.Fatalf("a friend's public reply to a public post: %v", err)
	}

	wenv, wr := sealReply(t, work, post.ReplyDraft{PostAuthor: own, PostID: closeOnly, Text: "not mine to see"})
	senv, sr := sealReply(t, stranger, post.ReplyDraft{PostAuthor: own, PostID: public, Text: "stranger", Public: true})
	oenv, or := sealReply(t, closeF, post.ReplyDraft{PostAuthor: work.Public(), PostID: closeOnly, Text: "another author's post"})
	venv, vr := sealReply(t, closeF, post.ReplyDraft{PostAuthor: own, PostID: closeOnly, Text: "says public", Public: true})
	genv, gr := sealReply(t, closeF, post.ReplyDraft{PostAuthor: own, PostID: gone, Text: "to a deleted post"})
	xenv, xr := sealReaction(t, work, post.ReactionDraft{PostAuthor: own, PostID: closeOnly, Emoji: "👍"})
	for _, tc := range []struct {
		name string
		host func() (bool, error)
		want error
	}{
		{"a friend of another group", func() (bool, error) { return s.HostReply(work.Public(), wenv, wr) }, ErrNoSuchPost},
		{"a friend of another group's reaction", func() (bool, error) { return s.HostReaction(work.Public(), xenv, xr) }, ErrNoSuchPost},
		{"a stranger", func() (bool, error) { return s.HostReply(stranger.Public(), senv, sr) }, ErrNotFriend},
		{"a record someone else signed", func() (bool, error) { return s.HostReply(closeF.Public(), penv, pr) }, ErrNotYours},
		{"a reply to another author's post", func() (bool, error) { return s.HostReply(closeF.Public(), oenv, or) }, ErrNoSuchPost},
		{"a public reply to a private post", func() (bool, error) { return s.HostReply(closeF.Public(), venv, vr) }, post.ErrInvalid},
		{"a reply to a deleted post", func() (bool, error) { return s.HostReply(closeF.Public(), genv, gr) }, ErrNoSuchPost},
	} {
		if changed, err := tc.host(); !errors.Is(err, tc.want) || changed {
			t.Errorf("%s: changed %v, %v; want %v", tc.name, changed, err, tc.want)
		}
	}
	if notes, unread, _ := s.Notes(false); unread != 3 {
		t.Errorf("notes %+v: %d unread, want the first reply, the reaction and the public reply", notes, unread)
	}

	for _, tc := range []struct {
		name   string
		viewer identity.PublicKey
		pid    post.ID
		want   int
	}{
		{"the author", own, closeOnly, 2},
		{"the close friend", closeF.Public(), closeOnly, 2},
		{"a friend of another group", work.Public(), closeOnly, -1},
		{"a stranger", stranger.Public(), closeOnly, -1},
		{"a stranger, the public post", stranger.Public(), public, 1},
		{"anyone, a deleted post", closeF.Public(), gone, 0},
		{"anyone, an unknown post", closeF.Public(), post.ID{7}, -1},
	} {
		recs, pages, err := conversation(s, tc.viewer, tc.pid, 1)
		if tc.want < 0 {
			if !errors.Is(err, ErrNoSuchPost) || len(recs) != 0 {
				t.Errorf("%s: %d records, %v; want ErrNoSuchPost", tc.name, len(recs), err)
			}
			continue
		}
		if err != nil || len(recs) != tc.want || pages != tc.want {
			t.Errorf("%s: %d records in %d pages, %v; want %d, one a page", tc.name, len(recs), pages, err, tc.want)
		}
	}
	recs, _, _ := conversation(s, closeF.Public(), closeOnly, 10)
	for _, rec := range recs {
		if rec.Reply != nil && rec.Reply.GetText() != "v2" {
			t.Errorf("the conversation holds reply text %q, want the latest version", rec.Reply.GetText())
		}
	}
}

// TestOwnRecordsAndPulledConversations: an own record on a friend's post shows at once
// and waits in the outbox until delivered (a newer version keeps waiting); what the host
// serves replaces the held copy except own records it has not acknowledged; a reply that
// mentions this person is noted once.
func TestOwnRecordsAndPulledConversations(t *testing.T) {
	s, me, host, pid := holdsFriendsPost(t)
	other := newKey(t)

	e1, r1 := sealReply(t, me, post.ReplyDraft{PostAuthor: host, PostID: pid, Text: "mine v1"})
	e2, r2 := sealReply(t, me, post.ReplyDraft{ID: post.ID(r1.GetId()), Version: 2, PostAuthor: host, PostID: pid, Text: "mine v2"})
	if err := s.PutOwnRecord(e1, r1, nil); err != nil {
		t.Fatal(err)
	}
	if out, err := s.Outbox(host); err != nil || len(out) != 1 || !out[0].Pending {
		t.Fatalf("outbox %+v, %v; want the reply, pending", out, err)
	}
	if out, _ := s.Outbox(other.Public()); len(out) != 0 {
		t.Errorf("another host's outbox holds %d records", len(out))
	}
	if th, _ := s.Thread(host, pid); len(th) != 1 || !th[0].Pending {
		t.Fatalf("thread %+v; want the own reply, pending", th)
	}
	if err := s.PutOwnRecord(e2, r2, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Delivered(r1, nil); err != nil {
		t.Fatal(err)
	}
	if out, _ := s.Outbox(host); len(out) != 1 {
		t.Fatal("version 1 delivered took version 2 out of the outbox")
	}
	if err := s.Delivered(r2, nil); err != nil {
		t.Fatal(err)
	}
	if out, _ := s.Outbox(host); len(out) != 0 {
		t.Fatalf("version 2 delivered: outbox still holds %d", len(out))
	}
	if rec, err := s.FindReply(post.ID(r1.GetId())); err != nil || rec.Reply.GetText() != "mine v2" || rec.Pending {
		t.Fatalf("FindReply: %+v, %v; want version 2, delivered", rec, err)
	}
	if _, err := s.FindReply(post.ID{9}); !errors.Is(err, ErrNotFound) {
		t.Errorf("FindReply of an unknown reply: %v, want ErrNotFound", err)
	}

	// An own reaction waiting for the host, then the host's copy of the conversation.
	xe, xr := sealReaction(t, me, post.ReactionDraft{PostAuthor: host, PostID: pid, Emoji: "🎉"})
	if err := s.PutOwnRecord(xe, nil, xr); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Reaction(host, pid, me.Public()); err != nil || got.GetEmoji() != "🎉" {
		t.Fatalf("own reaction %v, %v", got, err)
	}
	if got, err := s.Reaction(host, pid, other.Public()); err != nil || got != nil {
		t.Errorf("another's reaction: %v, %v; want none", got, err)
	}
	oe, or := sealReply(t, other, post.ReplyDraft{PostAuthor: host, PostID: pid, Text: "hi @me", Mentions: []identity.PublicKey{me.Public()}})
	served := HeldConversation{PostID: pid, Replies: []VerifiedReply{{e2, r2}, {oe, or}}}
	for i := 0; i < 2; i++ {
		if _, err := s.Apply(host, Batch{Cursor: uint64(2 + i), Conversations: []HeldConversation{served}}); err != nil {
			t.Fatal(err)
		}
	}
	th, _ := s.Thread(host, pid)
	if len(th) != 3 {
		t.Fatalf("thread after the pull: %d records, want the two replies and the waiting reaction", len(th))
	}
	if notes, _, _ := s.Notes(true); len(notes) != 1 || notes[0].Kind != NoteMention {
		t.Errorf("notes %+v; want one mention", notes)
	}
	// The host no longer serves the other's reply: it goes; the unacknowledged reaction stays.
	served.Replies = served.Replies[:1]
	if _, err := s.Apply(host, Batch{Cursor: 4, Conversations: []HeldConversation{served}}); err != nil {
		t.Fatal(err)
	}
	if th, _ := s.Thread(host, pid); len(th) != 2 || th[len(th)-1].Reaction == nil || !th[len(th)-1].Pending {
		t.Fatalf("thread %+v; want own reply and the pending reaction", th)
	}
	// A conversation that claims a record of another post is refused whole.
	bad := HeldConversation{PostID: pid, Replies: []VerifiedReply{{oe, or}}}
	bad.Replies[0].Reply = proto.Clone(or).(*postv1.Reply)
	bad.Replies[0].Reply.PostId = make([]byte, post.IDSize)
	if _, err := s.Apply(host, Batch{Cursor: 5, Conversations: []HeldConversation{bad}}); err == nil {
		t.Error("a conversation holding another post's reply was applied")
	}
	// A refused own record is forgotten, only at the version refused.
	if err := s.ForgetOwnRecord(nil, &postv1.Reaction{Author: xr.GetAuthor(), PostAuthor: xr.GetPostAuthor(), PostId: xr.GetPostId(), Version: 5}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Reaction(host, pid, me.Public()); got == nil {
		t.Fatal("forgetting another version dropped the reaction")
	}
	if err := s.ForgetOwnRecord(nil, xr); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Reaction(host, pid, me.Public()); got != nil {
		t.Error("a forgotten reaction is still held")
	}
	if out, _ := s.Outbox(host); len(out) != 0 {
		t.Errorf("a forgotten record stays in the outbox (%d)", len(out))
	}
}
