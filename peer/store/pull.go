package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Verified is a post whose envelope the caller has verified (post.OpenFrom).
type Verified struct {
	Envelope *signedv1.Envelope
	Payload  *postv1.Payload
}

// Batch is what one pull step brings from a friend.
type Batch struct {
	// Posts are verified posts by the friend; older versions than stored are ignored.
	Posts []Verified
	// Revoked are posts the friend withdrew from us: their copies are dropped.
	Revoked []post.ID
	// Cursor is the friend's sequence number to resume from next time.
	Cursor uint64
	// Restart sets the cursor to Cursor even when that moves it back: the friend's feed
	// now ends before our cursor (a home rebuilt from a recovery), so it is read again
	// from the start. Without it a cursor never moves back.
	Restart bool
	// Conversations are the complete conversations the friend served for its posts.
	Conversations []HeldConversation
}

// Applied counts what a batch changed.
type Applied struct {
	Stored, Ignored, Dropped int
}

// Cursor returns how far this peer has pulled a friend's changes feed.
func (s *Store) Cursor(friend identity.PublicKey) (uint64, error) {
	var c uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		c = getU64(tx.Bucket(bCursors).Get(friend[:]))
		return nil
	})
	return c, err
}

// Apply stores a batch pulled from a friend and advances the friend's cursor in one
// transaction: a crash keeps all of it or none. Repeating a batch changes nothing.
//
// An attachment no post held here refers to any more (the post was revoked, or its new
// version dropped the attachment) leaves the disk: its index entry goes in the same
// transaction, its file right after the commit.
func (s *Store) Apply(friend identity.PublicKey, b Batch) (Applied, error) {
	var n Applied
	var orphans [][]byte
	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	err := s.update(func(tx *bolt.Tx) error {
		n, orphans = Applied{}, nil
		if tx.Bucket(bFriends).Get(friend[:]) == nil {
			return fmt.Errorf("apply pull from %s: %w", friend.Short(), ErrNotFriend)
		}
		var newest *postv1.Payload // the newest post stored for the first time (noteReturn)
		for _, v := range b.Posts {
			if string(v.Payload.GetAuthor()) != string(friend[:]) {
				return fmt.Errorf("apply pull from %s: post %x is not theirs", friend.Short(), v.Payload.GetId())
			}
			var id post.ID
			copy(id[:], v.Payload.GetId())
			held := storedVersion(tx, friend, id)
			if !supersedes(tx, friend, id, v) {
				n.Ignored++
				continue
			}
			if held == 0 && !v.Payload.GetDeleted() {
				newest = newerPost(newest, v.Payload)
				if err := s.notePostMention(tx, friend, v.Payload); err != nil {
					return err
				}
			}
			old, err := dropHeld(tx, postKey(friend, id))
			if err != nil {
				return err
			}
			if err := putPost(tx, friend, id, v.Payload, v.Envelope); err != nil {
				return err
			}
			if orphans, err = unreferenced(tx, orphans, old); err != nil {
				return err
			}
			n.Stored++
		}
		for _, id := range b.Revoked {
			k := postKey(friend, id)
			if tx.Bucket(bPosts).Get(k) != nil {
				n.Dropped++
			}
			old, err := dropHeld(tx, k)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bPosts).Delete(k); err != nil {
				return err
			}
			if orphans, err = unreferenced(tx, orphans, old); err != nil {
				return err
			}
			if err := dropConversation(tx, friend, id, &orphans); err != nil {
				return err
			}
		}
		if err := s.noteReturn(tx, friend, newest); err != nil {
			return err
		}
		if err := s.applyConversations(tx, friend, b.Conversations, &orphans); err != nil {
			return fmt.Errorf("apply pull from %s: %w", friend.Short(), err)
		}
		if cur := getU64(tx.Bucket(bCursors).Get(friend[:])); b.Cursor < cur && !b.Restart {
			return nil // an older answer arriving late: never move the cursor back
		}
		return tx.Bucket(bCursors).Put(friend[:], u64(b.Cursor))
	})
	if err == nil {
		s.removeBlobFiles(orphans)
	}
	return n, err
}

// Recovery counts what Recovered did.
type Recovery struct {
	// Stored counts the versions stored (newer than held).
	Stored int
	// Narrowed counts private posts whose audience was not known (no restored kit named
	// them): they are kept for the author alone rather than served to anyone.
	Narrowed int
}

// Recovered stores own posts that a friend gave back (verified by the caller). Each gets
// the audience this home knows for it, else the one a restored recovery kit names
// (RestoreKit), else, failing closed, the author alone (public when it is public).
func (s *Store) Recovered(posts []Verified) (Recovery, error) {
	var n Recovery
	err := s.update(func(tx *bolt.Tx) error {
		n = Recovery{}
		for _, v := range posts {
			if string(v.Payload.GetAuthor()) != string(s.self[:]) || !s.hasSelf {
				return fmt.Errorf("recovered post %x is not ours", v.Payload.GetId())
			}
			var id post.ID
			copy(id[:], v.Payload.GetId())
			if !supersedes(tx, s.self, id, v) {
				continue
			}
			a, shared, known := recoveredAudience(tx, id, v.Payload)
			if !known && !a.Public {
				n.Narrowed++
			}
			if err := s.putOwn(tx, s.self, v.Envelope, v.Payload, a, shared); err != nil {
				return err
			}
			n.Stored++
		}
		return nil
	})
	return n, err
}

// recoveredAudience is the audience a recovered version gets: the one held locally when
// there is one, else the one a restored kit names, but never wider or narrower than the
// signed visibility says (the public part always follows the payload, so a version its
// author made private is never served as public). When neither is known, or what is
// known leaves nobody once the public part goes, it is the author alone: a recovered
// post is never served wider than before. known is false then. The sharing history is
// kept.
func recoveredAudience(tx *bolt.Tx, id post.ID, p *postv1.Payload) (a feed.Audience, shared *feed.Shared, known bool) {
	public := p.GetVisibility() == postv1.Visibility_VISIBILITY_PUBLIC
	if m, err := getMeta(tx, id); err == nil {
		a, shared, known = m.Audience, &m.Shared, true
	} else if v := tx.Bucket(bKitPosts).Get(id[:]); v != nil {
		var kp kitPost
		if json.Unmarshal(v, &kp) == nil {
			a, shared, known = kp.Audience, &kp.Shared, true
		}
	}
	a.Public = public
	if a.IsZero() {
		a, known = feed.Audience{Me: true}, false
	}
	return a, shared, known
}
