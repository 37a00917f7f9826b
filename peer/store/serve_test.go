package store

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	"github.com/kithnet/kith/shared/identity"
)

// TestChangesScanBound: a stranger's and a friend's answers come from their own views
// (views.go): hidden posts cost them nothing and move none of their numbers; a caller
// resuming at Last sees exactly the rest; since the newest number, or the largest one,
// nothing follows.
func TestChangesScanBound(t *testing.T) {
	s, _ := initT(t)
	friend, stranger := newKey(t), newKey(t)
	if err := s.PutFriend(Friend{Key: friend.Public()}); err != nil {
		t.Fatal(err)
	}
	nps := make([]NewPost, 2*scanFactor+1)
	for i := range nps {
		nps[i] = NewPost{Text: "hidden", Audience: feed.Audience{Me: true}}
	}
	nps[len(nps)-1] = NewPost{Text: "public", Audience: feed.Audience{Public: true}}
	if _, err := s.PublishMany(nps); err != nil {
		t.Fatal(err)
	}
	pg, err := s.Changes(stranger.Public(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(pg.Changes) != 1 || pg.More || pg.Last != pg.Changes[0].Seq || pg.Changes[0].Kind != feed.Post {
		t.Fatalf("first page for a stranger: %+v; want the public post alone, nothing more", pg)
	}
	first := pg.Last
	if again, _ := s.Changes(stranger.Public(), first, 2); len(again.Changes) != 0 || again.More || again.Last != first {
		t.Fatalf("resuming a stranger at %d: %+v; want nothing, same Last", first, again)
	}
	// A friend sees none of the author-only posts either, and exactly limit entries.
	if err := s.Edit(idOf(t, s, "public"), "public, edited"); err != nil {
		t.Fatal(err)
	}
	pg, _ = s.Changes(friend.Public(), 0, 100)
	if len(pg.Changes) != 1 || pg.More || pg.Changes[0].Version != 2 {
		t.Fatalf("friend: %+v; want the one public post at version 2", pg)
	}
	newest := pg.Last
	// A cursor past the end (the home was rebuilt since it was issued) is told where
	// the view ends, so the caller starts again.
	if pg, _ := s.Changes(friend.Public(), math.MaxUint64, 10); len(pg.Changes) != 0 || pg.Last != newest || pg.More {
		t.Fatalf("since the largest sequence number: %+v; want nothing, Last at the end %d", pg, newest)
	}
	if pg, _ := s.Changes(friend.Public(), newest, 10); len(pg.Changes) != 0 || pg.More || pg.Last != newest {
		t.Fatalf("since the newest (%d): %+v", newest, pg)
	}
}

// idOf returns the id of the own post whose text starts with prefix.
func idOf(t *testing.T, s *Store, prefix string) post.ID {
	t.Helper()
	var id post.ID
	found := false
	s.Posts(nil, func(st Stored) bool {
		if strings.HasPrefix(st.Payload.GetText(), prefix) {
			id, found = st.ID(), true
			return false
		}
		return true
	})
	if !found {
		t.Fatalf("no post %q", prefix)
	}
	return id
}

// TestBlobVisibleRules: a blob is visible to whoever may see a current version of an
// own post attaching it; an edit that drops the attachment hides it; the author of a
// held post gets it back; a malformed hash is never visible.
func TestBlobVisibleRules(t *testing.T) {
	s, me := initT(t)
	friend, stranger := newKey(t), newKey(t)
	if err := s.PutFriend(Friend{Key: friend.Public()}); err != nil {
		t.Fatal(err)
	}
	att, err := s.PutBlob(strings.NewReader("photo"))
	if err != nil {
		t.Fatal(err)
	}
	att.MediaType = "image/png"
	id, err := s.Publish(NewPost{Text: "photo", Attachments: []*postv1.Attachment{att}})
	if err != nil {
		t.Fatal(err)
	}
	visible := func(k identity.PublicKey, sha []byte) bool {
		t.Helper()
		ok, err := s.BlobVisible(k, sha)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !visible(friend.Public(), att.Sha256) || !visible(me.Public(), att.Sha256) || visible(stranger.Public(), att.Sha256) {
		t.Fatal("a friends' post's blob: want visible to the friend and me, not the stranger")
	}
	if visible(friend.Public(), att.Sha256[:31]) || visible(friend.Public(), append(append([]byte(nil), att.Sha256...), 0)) {
		t.Error("a malformed hash is visible")
	}
	if err := s.Delete(id); err != nil {
		t.Fatal(err)
	}
	if visible(friend.Public(), att.Sha256) {
		t.Error("the blob of a deleted post is still visible")
	}

	// A friend's post held here: its author may fetch its blob back; nobody else.
	held, err := s.PutBlob(strings.NewReader("friend's photo"))
	if err != nil {
		t.Fatal(err)
	}
	held.MediaType = "image/png"
	env, p, err := post.Seal(friend, post.Draft{Text: "mine", Attachments: []*postv1.Attachment{held}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(friend.Public(), Batch{Posts: []Verified{{env, p}}, Cursor: 1}); err != nil {
		t.Fatal(err)
	}
	if !visible(friend.Public(), held.Sha256) || visible(stranger.Public(), held.Sha256) {
		t.Error("a held post's blob: want visible to its author only")
	}
}

// TestApplyChecks: a batch must hold the friend's own posts; revocations drop only the
// copies held and count them; an older version is ignored.
func TestApplyChecks(t *testing.T) {
	s, _ := initT(t)
	friend, other := newKey(t), newKey(t)
	for _, k := range []*identity.Key{friend, other} {
		if err := s.PutFriend(Friend{Key: k.Public()}); err != nil {
			t.Fatal(err)
		}
	}
	env, p, err := post.Seal(other, post.Draft{Text: "other's"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(friend.Public(), Batch{Posts: []Verified{{env, p}}, Cursor: 3}); err == nil {
		t.Fatal("a batch from friend holding other's post was applied")
	}
	if c, _ := s.Cursor(friend.Public()); c != 0 {
		t.Errorf("a refused batch moved the cursor to %d", c)
	}
	e1, p1, _ := post.Seal(friend, post.Draft{Text: "v1"})
	e2, p2, _ := post.Seal(friend, post.Draft{ID: post.ID(p1.GetId()), Version: 2, Text: "v2"})
	if n, err := s.Apply(friend.Public(), Batch{Posts: []Verified{{e2, p2}, {e1, p1}}, Cursor: 2}); err != nil || n.Stored != 1 || n.Ignored != 1 {
		t.Fatalf("v2 then v1: %+v, %v; want 1 stored, 1 ignored", n, err)
	}
	if st, _ := s.Post(friend.Public(), post.ID(p1.GetId())); st.Payload.GetVersion() != 2 {
		t.Errorf("holds version %d, want 2", st.Payload.GetVersion())
	}
	n, err := s.Apply(friend.Public(), Batch{Revoked: []post.ID{post.ID(p1.GetId()), {9}}, Cursor: 4})
	if err != nil || n.Dropped != 1 {
		t.Fatalf("revoking one held and one unknown post: %+v, %v; want 1 dropped", n, err)
	}
	if c, _ := s.CountPosts(friend.Public()); c != 0 {
		t.Errorf("holds %d posts after the revocation", c)
	}
	if c, _ := s.Cursor(friend.Public()); c != 4 {
		t.Errorf("cursor %d, want 4", c)
	}
}

// TestRecoveredAudience: a recovered version keeps the local audience but follows its
// signed visibility; only the author's own posts are taken; an older version is not.
func TestRecoveredAudience(t *testing.T) {
	s, me := initT(t)
	friend := newKey(t)
	if err := s.PutFriend(Friend{Key: friend.Public(), Groups: []string{"close"}}); err != nil {
		t.Fatal(err)
	}
	pub1, ppub1, _ := post.Seal(me, post.Draft{Text: "public", Public: true})
	priv, ppriv, _ := post.Seal(me, post.Draft{Text: "private"})
	n, err := s.Recovered([]Verified{{pub1, ppub1}, {priv, ppriv}})
	if err != nil || n.Stored != 2 || n.Narrowed != 1 {
		t.Fatalf("Recovered: %+v, %v; want 2 stored, 1 narrowed", n, err)
	}
	check := func(id []byte, want feed.Audience) {
		t.Helper()
		st, err := s.Post(me.Public(), post.ID(id))
		if err != nil || st.Audience.String() != want.String() {
			t.Errorf("post %x: audience %v (%v), want %v", id[:4], st.Audience, err, want)
		}
	}
	check(ppub1.GetId(), feed.Audience{Public: true})
	check(ppriv.GetId(), feed.Audience{Me: true}) // no kit named it: the author alone
	if err := s.SetAudience(post.ID(ppriv.GetId()), feed.Audience{Groups: []string{"close"}}); err != nil {
		t.Fatal(err)
	}
	// Version 3 of the grouped post comes back public: group kept, made public.
	e3, p3, _ := post.Seal(me, post.Draft{ID: post.ID(ppriv.GetId()), Version: 3, Text: "now public", Public: true})
	if n, err := s.Recovered([]Verified{{e3, p3}, {priv, ppriv}}); err != nil || n.Stored != 1 {
		t.Fatalf("Recovered v3 and v1 again: %d, %v; want 1", n, err)
	}
	check(ppriv.GetId(), feed.Audience{Public: true, Groups: []string{"close"}})
	fe, fp, _ := post.Seal(friend, post.Draft{Text: "not mine"})
	if _, err := s.Recovered([]Verified{{fe, fp}}); err == nil {
		t.Error("a friend's post was recovered as our own")
	}
}

// TestHomeOrder: --home wins, then $KITH_HOME, then ~/.kith.
func TestHomeOrder(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "KITH_HOME" {
				return v
			}
			return ""
		}
	}
	if h, err := Home("/flag", env("/env")); err != nil || h != "/flag" {
		t.Errorf("flag and env: %q, %v", h, err)
	}
	if h, err := Home("", env("/env")); err != nil || h != "/env" {
		t.Errorf("env only: %q, %v", h, err)
	}
	u, err := os.UserHomeDir()
	if err != nil {
		t.Skip("no user home directory to compare with")
	}
	if h, err := Home("", env("")); err != nil || h != filepath.Join(u, ".kith") {
		t.Errorf("neither: %q, %v; want %s", h, err, filepath.Join(u, ".kith"))
	}
}

// TestWaitPassesSeq: Wait returns once the log passes seq, not at seq, and with the
// context's error when it ends first.
func TestWaitPassesSeq(t *testing.T) {
	s, _ := initT(t)
	if _, err := s.Publish(NewPost{Text: "one"}); err != nil {
		t.Fatal(err)
	}
	seq, _ := s.LastSeq()
	if err := s.Wait(context.Background(), seq-1); err != nil {
		t.Errorf("Wait for a passed seq: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Wait(ctx, seq); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait at the newest seq with nothing new: %v, want DeadlineExceeded", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait(context.Background(), seq) }()
	time.Sleep(50 * time.Millisecond)
	if _, err := s.Publish(NewPost{Text: "two"}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Wait after a new post: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after the log grew")
	}
}
