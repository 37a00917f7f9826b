package store

import (
	"testing"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/shared/identity"
)

// TestPulledConversationApplied: every record a host serves is taken, a mention noted,
// a newer version replaces the held one, an own record served at its version leaves the
// outbox, and records no longer served all go.
func TestPulledConversationApplied(t *testing.T) {
	s, me, host, pid := holdsFriendsPost(t)
	other, third := newKey(t), newKey(t)
	cursor := uint64(1)
	serve := func(rs ...VerifiedReply) {
		t.Helper()
		cursor++
		if _, err := s.Apply(host, Batch{Cursor: cursor, Conversations: []HeldConversation{{PostID: pid, Replies: rs}}}); err != nil {
			t.Fatal(err)
		}
	}
	texts := func() map[string]bool {
		t.Helper()
		th, err := s.Thread(host, pid)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, r := range th {
			m[r.Reply.GetText()] = true
		}
		return m
	}
	oe, or := sealReply(t, other, post.ReplyDraft{PostAuthor: host, PostID: pid, Text: "hi @me", Mentions: []identity.PublicKey{me.Public()}})
	te, tr := sealReply(t, third, post.ReplyDraft{PostAuthor: host, PostID: pid, Text: "third v1"})
	serve(VerifiedReply{oe, or}, VerifiedReply{te, tr})
	if got := texts(); len(got) != 2 || !got["hi @me"] || !got["third v1"] {
		t.Fatalf("thread %v; want both served replies", got)
	}
	if notes, _, _ := s.Notes(false); len(notes) != 1 || notes[0].Kind != NoteMention {
		t.Errorf("notes %+v; want one mention", notes)
	}
	te2, tr2 := sealReply(t, third, post.ReplyDraft{ID: post.ID(tr.GetId()), Version: 2, PostAuthor: host, PostID: pid, Text: "third v2"})
	serve(VerifiedReply{oe, or}, VerifiedReply{te2, tr2})
	if got := texts(); len(got) != 2 || !got["third v2"] {
		t.Fatalf("thread %v; want the newer version served", got)
	}
	me1, mr := sealReply(t, me, post.ReplyDraft{PostAuthor: host, PostID: pid, Text: "mine"})
	if err := s.PutOwnRecord(me1, mr, nil); err != nil {
		t.Fatal(err)
	}
	serve(VerifiedReply{oe, or}, VerifiedReply{te2, tr2}, VerifiedReply{me1, mr})
	if out, _ := s.Outbox(host); len(out) != 0 {
		t.Errorf("an own record the host served at its version still waits (%d)", len(out))
	}
	serve()
	if got := texts(); len(got) != 0 {
		t.Errorf("thread %v after the host served none; want empty", got)
	}
}

// TestRevokedPostDropsConversation: a post its author withdraws from us takes its held
// conversation with it, own waiting records included.
func TestRevokedPostDropsConversation(t *testing.T) {
	s, me, host, pid := holdsFriendsPost(t)
	other := newKey(t)
	oe, or := sealReply(t, other, post.ReplyDraft{PostAuthor: host, PostID: pid, Text: "other"})
	if _, err := s.Apply(host, Batch{Cursor: 2, Conversations: []HeldConversation{{PostID: pid, Replies: []VerifiedReply{{oe, or}}}}}); err != nil {
		t.Fatal(err)
	}
	me1, mr := sealReply(t, me, post.ReplyDraft{PostAuthor: host, PostID: pid, Text: "mine"})
	if err := s.PutOwnRecord(me1, mr, nil); err != nil {
		t.Fatal(err)
	}
	if th, _ := s.Thread(host, pid); len(th) != 2 {
		t.Fatalf("thread before the revocation: %d records, want 2", len(th))
	}
	if _, err := s.Apply(host, Batch{Cursor: 3, Revoked: []post.ID{pid}}); err != nil {
		t.Fatal(err)
	}
	if th, _ := s.Thread(host, pid); len(th) != 0 {
		t.Errorf("thread of a revoked post: %d records, want none", len(th))
	}
	if n := bucketLen(t, s, bOutbox); n != 0 {
		t.Errorf("the outbox holds %d records of a revoked post", n)
	}
}
