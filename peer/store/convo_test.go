package store

import (
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/shared/identity"
)

// TestHostAndRemoveReply: a friend's reply is hosted once, a removed one never again,
// and a reader's held copy of a conversation is replaced by what the host serves while
// its own unacknowledged record stays.
func TestHostAndRemoveReply(t *testing.T) {
	s, me, bob, pid := hostsFriendsPost(t)
	var err error
	env, r, err := post.SealReply(bob, post.ReplyDraft{Now: time.Now(), PostAuthor: me.Public(), PostID: pid, Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	seq, _ := s.LastSeq()
	if changed, err := s.HostReply(bob.Public(), env, r); err != nil || !changed {
		t.Fatalf("HostReply: %v, %v", changed, err)
	}
	if after, _ := s.LastSeq(); after <= seq {
		t.Fatal("hosting a reply did not give the post a new changes entry")
	}
	if changed, err := s.HostReply(bob.Public(), env, r); err != nil || changed {
		t.Fatalf("the same reply again: changed %v, %v", changed, err)
	}
	if notes, unread, _ := s.Notes(false); unread != 1 || notes[0].Kind != NoteReply {
		t.Fatalf("notes: %+v (%d unread), want one reply", notes, unread)
	}
	if err := s.RemoveReply(pid, bob.Public(), post.ID(r.GetId())); err != nil {
		t.Fatal(err)
	}
	if _, err := s.HostReply(bob.Public(), env, r); !errors.Is(err, ErrRemoved) {
		t.Fatalf("a removed reply again: %v, want ErrRemoved", err)
	}
	if recs, _ := s.Thread(me.Public(), pid); len(recs) != 0 {
		t.Fatalf("thread after removal: %d records", len(recs))
	}
}

// BenchmarkThread10k measures reading a thread of 10,000 replies, and hosting one more.
func BenchmarkThread10k(b *testing.B) {
	s, err := Open(Config{Home: b.TempDir(), NoSync: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	me, _ := identity.Generate(rand.Reader)
	bob, _ := identity.Generate(rand.Reader)
	if err := s.Init(me, "me"); err != nil {
		b.Fatal(err)
	}
	if err := s.PutFriend(Friend{Key: bob.Public()}); err != nil {
		b.Fatal(err)
	}
	pid, err := s.Publish(NewPost{Text: "a busy post"})
	if err != nil {
		b.Fatal(err)
	}
	host := func(i int) {
		env, r, err := post.SealReply(bob, post.ReplyDraft{Now: time.Now(), PostAuthor: me.Public(), PostID: pid, Text: "reply number " + time.Now().String()})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.HostReply(bob.Public(), env, r); err != nil {
			b.Fatalf("reply %d: %v", i, err)
		}
	}
	bob2 := bob
	for i := range 10_000 {
		if i%MaxRepliesPerPerson == 0 && i > 0 { // one person's limit: another replier
			bob2, _ = identity.Generate(rand.Reader)
			if err := s.PutFriend(Friend{Key: bob2.Public()}); err != nil {
				b.Fatal(err)
			}
			bob = bob2
		}
		host(i)
	}
	b.Run("Thread", func(b *testing.B) {
		for b.Loop() {
			recs, err := s.Thread(me.Public(), pid)
			if err != nil || len(recs) != 10_000 {
				b.Fatalf("%d records, %v", len(recs), err)
			}
		}
	})
	b.Run("HostOneMore", func(b *testing.B) {
		for b.Loop() {
			bob, _ = identity.Generate(rand.Reader)
			s.PutFriend(Friend{Key: bob.Public()})
			host(0)
		}
	})
}
