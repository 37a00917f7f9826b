package store

import (
	"bytes"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/shared/identity"
)

// fillConvo puts n placeholder entries under prefix in the conversation bucket: only
// counted by checkRoom, never decoded by the calls that follow.
func fillConvo(t *testing.T, s *Store, prefix []byte, n int) {
	t.Helper()
	if err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bConvo)
		for i := 0; i < n; i++ {
			k := append(append([]byte(nil), prefix...), bytes.Repeat([]byte{0xee}, 97-len(prefix))...)
			k[len(k)-1], k[len(k)-2], k[len(k)-3] = byte(i), byte(i>>8), byte(i>>16)
			if err := b.Put(k, u64(1)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestConversationRoom: a person may hold MaxRepliesPerPerson replies on a post and a
// post MaxRecordsPerPost records; one more new record is refused, while a new version of
// a held record still goes in when the conversation is full.
func TestConversationRoom(t *testing.T) {
	s, me := initT(t)
	bob, carol := newKey(t), newKey(t)
	for _, f := range []*identity.Key{bob, carol} {
		if err := s.PutFriend(Friend{Key: f.Public(), Name: "F"}); err != nil {
			t.Fatal(err)
		}
	}
	pid, err := s.Publish(NewPost{Text: "hi", Audience: feed.Default()})
	if err != nil {
		t.Fatal(err)
	}
	own := me.Public()
	fillConvo(t, s, replyKey(own, pid, bob.Public(), post.ID{})[:81], MaxRepliesPerPerson-2)
	e1, r1 := sealReply(t, bob, post.ReplyDraft{PostAuthor: own, PostID: pid, Text: "one"})
	if _, err := s.HostReply(bob.Public(), e1, r1); err != nil {
		t.Fatalf("bob's reply number %d: %v", MaxRepliesPerPerson-1, err)
	}
	e2, r2 := sealReply(t, bob, post.ReplyDraft{PostAuthor: own, PostID: pid, Text: "two"})
	if _, err := s.HostReply(bob.Public(), e2, r2); err != nil {
		t.Fatalf("bob's reply number %d: %v", MaxRepliesPerPerson, err)
	}
	e3, r3 := sealReply(t, bob, post.ReplyDraft{PostAuthor: own, PostID: pid, Text: "three"})
	if changed, err := s.HostReply(bob.Public(), e3, r3); !errors.Is(err, ErrConversationFull) || changed {
		t.Fatalf("bob's reply number %d: %v, %v; want ErrConversationFull", MaxRepliesPerPerson+1, changed, err)
	}
	e1b, r1b := sealReply(t, bob, post.ReplyDraft{ID: post.ID(r1.GetId()), Version: 2, PostAuthor: own, PostID: pid, Text: "one, edited"})
	if changed, err := s.HostReply(bob.Public(), e1b, r1b); err != nil || !changed {
		t.Fatalf("an edit of a held reply, bob full: %v, %v", changed, err)
	}
	ec, rc := sealReply(t, carol, post.ReplyDraft{PostAuthor: own, PostID: pid, Text: "carol"})
	if _, err := s.HostReply(carol.Public(), ec, rc); err != nil {
		t.Fatalf("carol's first reply while bob is full: %v", err)
	}

	// The post's bound: MaxRecordsPerPost records in all.
	held := MaxRepliesPerPerson + 1
	fillConvo(t, s, convoPrefix(own, pid), MaxRecordsPerPost-held-1)
	xe, xr := sealReaction(t, carol, post.ReactionDraft{PostAuthor: own, PostID: pid, Emoji: "👍"})
	if _, err := s.HostReaction(carol.Public(), xe, xr); err != nil {
		t.Fatalf("the post's record number %d: %v", MaxRecordsPerPost, err)
	}
	ye, yr := sealReaction(t, bob, post.ReactionDraft{PostAuthor: own, PostID: pid, Emoji: "👍"})
	if changed, err := s.HostReaction(bob.Public(), ye, yr); !errors.Is(err, ErrConversationFull) || changed {
		t.Fatalf("the post's record number %d: %v, %v; want ErrConversationFull", MaxRecordsPerPost+1, changed, err)
	}
	xe2, xr2 := sealReaction(t, carol, post.ReactionDraft{Version: 2, PostAuthor: own, PostID: pid, Emoji: "🎉"})
	if changed, err := s.HostReaction(carol.Public(), xe2, xr2); err != nil || !changed {
		t.Fatalf("a changed reaction, the post full: %v, %v", changed, err)
	}
}
