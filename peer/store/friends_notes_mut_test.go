package store

import (
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/peer/feed"
)

// closed reports whether ch is closed.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestFriendRequestNotedOnce: a new friend request is noted; a newer one from the same
// person replaces it without a second note.
func TestFriendRequestNotedOnce(t *testing.T) {
	s, _ := initT(t)
	k := newKey(t)
	now := time.Now()
	if _, err := s.PutFriendRequest(FriendRequest{From: k.Public(), Name: "Ann", Created: now}); err != nil {
		t.Fatal(err)
	}
	if notes, _, _ := s.Notes(false); len(notes) != 1 || notes[0].Kind != NoteFriendRequest {
		t.Fatalf("notes %+v; want one friend request", notes)
	}
	if _, err := s.PutFriendRequest(FriendRequest{From: k.Public(), Name: "Ann B", Created: now.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if notes, _, _ := s.Notes(false); len(notes) != 1 {
		t.Fatalf("notes %+v; want still one after a newer request from the same person", notes)
	}
}

// TestFriendAndGroupChanges: a new friend gets the posts meant for them in their view
// and moves the recovery kit's revision; so does a new group.
func TestFriendAndGroupChanges(t *testing.T) {
	s, _ := initT(t)
	if _, err := s.Publish(NewPost{Text: "hi", Audience: feed.Default()}); err != nil {
		t.Fatal(err)
	}
	k := newKey(t)
	rev, _ := s.KitRevision()
	seq, _ := s.LastSeq()
	if err := s.PutFriend(Friend{Key: k.Public(), Name: "Ann"}); err != nil {
		t.Fatal(err)
	}
	if seq, err := s.LastSeqFor(k.Public()); err != nil || seq == 0 {
		t.Errorf("a new friend's view: head %d, %v; want the post meant for friends", seq, err)
	}
	if now, _ := s.LastSeq(); now <= seq {
		t.Errorf("a new friend who may now see a post gave it no new changes entry")
	}
	after, _ := s.KitRevision()
	if !after.After(rev) {
		t.Errorf("a new friend left the kit revision at %v", after)
	}
	if err := s.AddGroup("club"); err != nil {
		t.Fatal(err)
	}
	if last, _ := s.KitRevision(); !last.After(after) {
		t.Errorf("a new group left the kit revision at %v", last)
	}
}

// TestNotesSignal: watchers hear of a note added when the oldest is dropped, and of
// notes marked read, but not of a MarkRead that changed nothing.
func TestNotesSignal(t *testing.T) {
	s, _ := initT(t)
	from := newKey(t).Public()
	add := func(n int) {
		t.Helper()
		if err := s.db.Update(func(tx *bolt.Tx) error {
			for i := 0; i < n; i++ {
				if err := s.addNote(tx, Note{Kind: NoteReply, From: from, Text: "x"}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	add(MaxNotes)
	ch := s.NotesChanged()
	add(1)
	if !closed(ch) {
		t.Error("a note that dropped the oldest was not signalled")
	}
	if notes, _, _ := s.Notes(false); len(notes) != MaxNotes {
		t.Errorf("%d notes held, want %d", len(notes), MaxNotes)
	}
	ch = s.NotesChanged()
	if n, err := s.MarkRead(nil); err != nil || n != MaxNotes {
		t.Fatalf("MarkRead: %d, %v", n, err)
	}
	if !closed(ch) {
		t.Error("notes marked read were not signalled")
	}
	ch = s.NotesChanged()
	if n, err := s.MarkRead(nil); err != nil || n != 0 {
		t.Fatalf("MarkRead again: %d, %v", n, err)
	}
	if closed(ch) {
		t.Error("a MarkRead that changed nothing was signalled")
	}
}
