package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestNotes: notifications list newest first, unread ones alone unless all; marking
// some or all read counts only those unread and wakes the live count; an unknown id
// marks nothing; a long text is cut to maxNoteText runes; at most MaxNotes are kept, the
// oldest going first.
func TestNotes(t *testing.T) {
	s, _ := initT(t)
	from := newKey(t).Public()
	long := strings.Repeat("é", maxNoteText+1)
	for _, text := range []string{"one", "two", strings.Repeat("é", maxNoteText), long} {
		if err := s.AddNote(Note{Kind: NotePost, From: from, Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	notes, unread, err := s.Notes(false)
	if err != nil || unread != 4 || len(notes) != 4 || notes[3].Text != "one" {
		t.Fatalf("notes %+v (%d unread), %v; want four, newest first", notes, unread, err)
	}
	if notes[1].Text != strings.Repeat("é", maxNoteText) || notes[0].Text != strings.Repeat("é", maxNoteText)+"…" {
		t.Errorf("texts of %d and %d runes: %q, %q; want the first whole, the second cut with an ellipsis",
			maxNoteText, maxNoteText+1, notes[1].Text, notes[0].Text)
	}
	changed := s.NotesChanged()
	if _, err := s.MarkRead([]uint64{notes[3].ID, 999}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("marking an unknown id: %v, want ErrNotFound", err)
	}
	if _, unread, _ := s.Notes(false); unread != 4 {
		t.Fatalf("a refused MarkRead changed %d notes", 4-unread)
	}
	if n, err := s.MarkRead([]uint64{notes[3].ID}); err != nil || n != 1 {
		t.Fatalf("MarkRead one: %d, %v", n, err)
	}
	select {
	case <-changed:
	case <-time.After(time.Second):
		t.Error("marking read did not wake the live count")
	}
	if n, err := s.MarkRead([]uint64{notes[3].ID}); err != nil || n != 0 {
		t.Errorf("marking a read note again: %d, %v; want 0", n, err)
	}
	if got, unread, _ := s.Notes(false); unread != 3 || len(got) != 3 {
		t.Errorf("%d unread listed, %d counted; want 3", len(got), unread)
	}
	if got, _, _ := s.Notes(true); len(got) != 4 {
		t.Errorf("all notes: %d, want 4", len(got))
	}
	if n, err := s.MarkRead(nil); err != nil || n != 3 {
		t.Errorf("MarkRead all: %d, %v; want 3", n, err)
	}
	if _, unread, _ := s.Notes(false); unread != 0 {
		t.Errorf("%d unread after marking all", unread)
	}

	// Up to MaxNotes (in one transaction, to be quick), then one more: the oldest goes.
	err = s.update(func(tx *bolt.Tx) error {
		for i := 4; i < MaxNotes-1; i++ {
			if err := s.addNote(tx, Note{Kind: NotePost, From: from, Text: "filler"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"one", "two"} {
		if err := s.AddNote(Note{Kind: NotePost, From: from, Text: "last"}); err != nil {
			t.Fatal(err)
		}
		all, _, _ := s.Notes(true)
		if len(all) != MaxNotes || all[len(all)-1].Text != want {
			t.Fatalf("note %d at the bound: %d held, the oldest %q; want %d, the oldest %q", i+1, len(all), all[len(all)-1].Text, MaxNotes, want)
		}
	}
}

// TestNotesBoundInOneTransaction: the bound holds when it is crossed inside one write
// transaction (a sync applying many replies at once), not only across commits.
func TestNotesBoundInOneTransaction(t *testing.T) {
	s, _ := initT(t)
	from := newKey(t).Public()
	err := s.update(func(tx *bolt.Tx) error {
		for i := 0; i < MaxNotes+50; i++ {
			if err := s.addNote(tx, Note{Kind: NotePost, From: from, Text: "burst"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if all, _, _ := s.Notes(true); len(all) != MaxNotes {
		t.Fatalf("%d notes added in one transaction: %d held, want %d", MaxNotes+50, len(all), MaxNotes)
	}
}
