package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/peer/post"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	"github.com/kithnet/kith/shared/identity"
)

// NoteKind says what a notification is about.
type NoteKind string

// The kinds of notifications.
const (
	NoteReply         NoteKind = "reply"
	NoteReaction      NoteKind = "reaction"
	NoteMention       NoteKind = "mention"
	NoteFriendRequest NoteKind = "friend_request"
	NotePost          NoteKind = "post"
)

// MaxNotes is how many notifications the store keeps; the oldest go first.
const MaxNotes = 10_000

// maxNoteText bounds the excerpt a notification keeps.
const maxNoteText = 280

var bNotes = []byte("notes") // seq(8) -> JSON Note

// Note is one notification the daemon keeps for the person.
type Note struct {
	ID      uint64             `json:"-"`
	Kind    NoteKind           `json:"kind"`
	From    identity.PublicKey `json:"from"`
	PostID  post.ID            `json:"post_id"`
	ReplyID post.ID            `json:"reply_id"`
	Text    string             `json:"text"`
	Created time.Time          `json:"created"`
	Read    bool               `json:"read"`
}

// addNote keeps a notification, dropping the oldest past MaxNotes.
func (s *Store) addNote(tx *bolt.Tx, n Note) error {
	b := tx.Bucket(bNotes)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	n.Created = s.now()
	n.Text = excerpt(n.Text)
	v, err := json.Marshal(n)
	if err != nil {
		return err
	}
	if err := b.Put(u64(seq), v); err != nil {
		return err
	}
	// Keys are sequence numbers and only the oldest is ever deleted, so seq-first+1
	// bounds how many notes the bucket holds. (Stats().KeyN counts only committed keys
	// inside a write transaction: many notes added in one would pass the bound.)
	c := b.Cursor()
	for k, _ := c.First(); k != nil && seq-getU64(k)+1 > MaxNotes; k, _ = c.First() {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	tx.OnCommit(s.signalNotes)
	return nil
}

// NotesChanged returns a channel closed at the next change of the notifications (the
// web app's live unread count).
func (s *Store) NotesChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.notesCh == nil {
		s.notesCh = make(chan struct{})
	}
	return s.notesCh
}

func (s *Store) signalNotes() {
	s.mu.Lock()
	if s.notesCh != nil {
		close(s.notesCh)
		s.notesCh = nil
	}
	s.mu.Unlock()
}

func excerpt(s string) string {
	r := []rune(s)
	if len(r) > maxNoteText {
		return string(r[:maxNoteText]) + "…"
	}
	return s
}

// noteReply notes a reply handed to an own post: a new reply, or a mention of this
// person (the host) in it.
func (s *Store) noteReply(tx *bolt.Tx, r *postv1.Reply, isNew bool) error {
	if !isNew || r.GetDeleted() {
		return nil
	}
	return s.addNote(tx, Note{Kind: NoteReply, From: identity.PublicKey(r.GetAuthor()), PostID: post.ID(r.GetPostId()), ReplyID: post.ID(r.GetId()), Text: r.GetText()})
}

// AddNote keeps a notification the daemon noticed (a friend's first post after a while).
func (s *Store) AddNote(n Note) error {
	return s.update(func(tx *bolt.Tx) error { return s.addNote(tx, n) })
}

// Notes returns notifications newest first (only unread ones unless all), and the
// number of unread ones.
func (s *Store) Notes(all bool) ([]Note, int, error) {
	var out []Note
	unread := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bNotes).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var n Note
			if err := json.Unmarshal(v, &n); err != nil {
				return fmt.Errorf("notification %x: %w", k, err)
			}
			n.ID = getU64(k)
			if !n.Read {
				unread++
			}
			if all || !n.Read {
				out = append(out, n)
			}
		}
		return nil
	})
	return out, unread, err
}

// MarkRead marks notifications read (all when ids is empty) and returns how many were
// unread. An id that does not exist is an error, and then nothing changes.
func (s *Store) MarkRead(ids []uint64) (int, error) {
	n := 0
	err := s.update(func(tx *bolt.Tx) error {
		n = 0
		b := tx.Bucket(bNotes)
		mark := func(k, v []byte) error {
			var note Note
			if err := json.Unmarshal(v, &note); err != nil {
				return err
			}
			if note.Read {
				return nil
			}
			note.Read = true
			nv, err := json.Marshal(note)
			if err != nil {
				return err
			}
			n++
			return b.Put(k, nv)
		}
		if len(ids) == 0 {
			var keys, vals [][]byte
			b.ForEach(func(k, v []byte) error {
				keys, vals = append(keys, append([]byte(nil), k...)), append(vals, append([]byte(nil), v...))
				return nil
			})
			for i := range keys {
				if err := mark(keys[i], vals[i]); err != nil {
					return err
				}
			}
			return nil
		}
		for _, id := range ids {
			v := b.Get(u64(id))
			if v == nil {
				return fmt.Errorf("notification %d: %w", id, ErrNotFound)
			}
			if err := mark(u64(id), append([]byte(nil), v...)); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && n > 0 {
		s.signalNotes()
	}
	return n, err
}
