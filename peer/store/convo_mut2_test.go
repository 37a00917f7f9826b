package store

import (
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/shared/identity"
)

// TestConversationChangeReachesAudience: a hosted reply or reaction and a removal give
// the post a new changes entry and a new entry in the view of a friend who may see it; a
// friend's reaction is noted.
func TestConversationChangeReachesAudience(t *testing.T) {
	s, me, bob, pid := hostsFriendsPost(t)
	own := me.Public()
	step := func(what string, do func() error) {
		t.Helper()
		seq, _ := s.LastSeq()
		view, _ := s.LastSeqFor(bob.Public())
		if err := do(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if after, _ := s.LastSeq(); after <= seq {
			t.Errorf("%s: no new changes entry", what)
		}
		if after, _ := s.LastSeqFor(bob.Public()); after <= view {
			t.Errorf("%s: no new entry in the view of bob, who may see the post", what)
		}
	}
	env, r := sealReply(t, bob, post.ReplyDraft{PostAuthor: own, PostID: pid, Text: "hello"})
	step("a reply", func() error { _, err := s.HostReply(bob.Public(), env, r); return err })
	xe, xr := sealReaction(t, bob, post.ReactionDraft{PostAuthor: own, PostID: pid, Emoji: "👍"})
	step("a reaction", func() error { _, err := s.HostReaction(bob.Public(), xe, xr); return err })
	if notes, _, _ := s.Notes(false); len(notes) != 2 || notes[0].Kind != NoteReaction && notes[1].Kind != NoteReaction {
		t.Errorf("notes %+v; want the reply and the reaction", notes)
	}
	step("a removal", func() error { return s.RemoveReply(pid, bob.Public(), post.ID(r.GetId())) })
}

// TestDecodeRecordShortest: the shortest entry that is not corrupt (a kind byte after
// the post, an empty envelope after the version) decodes; anything shorter does not.
func TestDecodeRecordShortest(t *testing.T) {
	k49 := make([]byte, 49)
	k49[48] = kindReaction
	if _, err := decodeRecord(k49, u64(1)); err != nil {
		t.Errorf("a 49-byte key, an 8-byte value: %v", err)
	}
	if _, err := decodeRecord(k49[:48], u64(1)); err == nil {
		t.Error("a 48-byte key decoded")
	}
	if _, err := decodeRecord(k49, u64(1)[:7]); err == nil {
		t.Error("a 7-byte value decoded")
	}
}

// TestThreadAndFindReply: a tombstone stays out of the thread; FindReply finds a
// friend's reply and prefers the own one of two with the same id.
func TestThreadAndFindReply(t *testing.T) {
	s, me, bob, pid := hostsFriendsPost(t)
	var err error
	own := me.Public()
	env, r := sealReply(t, bob, post.ReplyDraft{PostAuthor: own, PostID: pid, Text: "hello"})
	if _, err := s.HostReply(bob.Public(), env, r); err != nil {
		t.Fatal(err)
	}
	rid := post.ID(r.GetId())
	if rec, err := s.FindReply(rid); err != nil || rec.Reply.GetText() != "hello" {
		t.Fatalf("FindReply of bob's reply: %+v, %v", rec, err)
	}
	me1, mr := sealReply(t, me, post.ReplyDraft{ID: rid, PostAuthor: own, PostID: pid, Text: "mine"})
	if _, err := s.HostReply(own, me1, mr); err != nil {
		t.Fatal(err)
	}
	if rec, err := s.FindReply(rid); err != nil || rec.Reply.GetText() != "mine" {
		t.Fatalf("FindReply of the id of two replies: %+v, %v; want the own one", rec, err)
	}
	de, dr := sealReply(t, bob, post.ReplyDraft{ID: rid, Version: 2, PostAuthor: own, PostID: pid, Deleted: true})
	if _, err := s.HostReply(bob.Public(), de, dr); err != nil {
		t.Fatal(err)
	}
	th, err := s.Thread(own, pid)
	if err != nil || len(th) != 1 || th[0].Reply.GetText() != "mine" {
		t.Fatalf("thread %+v, %v; want the own reply only, bob's tombstone left out", th, err)
	}
}

// TestForgetOwnRecordEmptiesOutbox: a forgotten own record leaves the outbox bucket.
func TestForgetOwnRecordEmptiesOutbox(t *testing.T) {
	s, me, host, pid := holdsFriendsPost(t)
	e, r := sealReply(t, me, post.ReplyDraft{PostAuthor: host, PostID: pid, Text: "mine"})
	if err := s.PutOwnRecord(e, r, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.ForgetOwnRecord(r, nil); err != nil {
		t.Fatal(err)
	}
	if n := bucketLen(t, s, bOutbox); n != 0 {
		t.Errorf("the outbox bucket holds %d entries after the record was forgotten", n)
	}
	if n := bucketLen(t, s, bReplyIdx); n != 0 {
		t.Errorf("the reply index holds %d entries after the record was forgotten", n)
	}
}

func bucketLen(t *testing.T, s *Store, name []byte) int {
	t.Helper()
	n := 0
	if err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(name).ForEach(func(_, _ []byte) error { n++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// hostsFriendsPost is a home with a friend Bob and one own post to all friends.
func hostsFriendsPost(t *testing.T) (s *Store, me, bob *identity.Key, pid post.ID) {
	t.Helper()
	s, me = initT(t)
	bob = newKey(t)
	if err := s.PutFriend(Friend{Key: bob.Public(), Name: "Bob"}); err != nil {
		t.Fatal(err)
	}
	pid, err := s.Publish(NewPost{Text: "hi", Audience: feed.Default()})
	if err != nil {
		t.Fatal(err)
	}
	return s, me, bob, pid
}

// holdsFriendsPost is a home with a friend whose post it holds (applied from the friend
// at cursor 1): host, that friend, hosts the post's conversation.
func holdsFriendsPost(t *testing.T) (s *Store, me *identity.Key, host identity.PublicKey, pid post.ID) {
	t.Helper()
	s, me = initT(t)
	friend := newKey(t)
	host = friend.Public()
	if err := s.PutFriend(Friend{Key: host, Name: "Friend"}); err != nil {
		t.Fatal(err)
	}
	penv, p, err := post.Seal(friend, post.Draft{Text: "a friend's post"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(host, Batch{Posts: []Verified{{penv, p}}, Cursor: 1}); err != nil {
		t.Fatal(err)
	}
	return s, me, host, post.ID(p.GetId())
}
