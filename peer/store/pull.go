package store

import (
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
func (s *Store) Apply(friend identity.PublicKey, b Batch) (Applied, error) {
	var n Applied
	err := s.update(func(tx *bolt.Tx) error {
		n = Applied{}
		if tx.Bucket(bFriends).Get(friend[:]) == nil {
			return fmt.Errorf("apply pull from %s: %w", friend.Short(), ErrNotFriend)
		}
		for _, v := range b.Posts {
			if string(v.Payload.GetAuthor()) != string(friend[:]) {
				return fmt.Errorf("apply pull from %s: post %x is not theirs", friend.Short(), v.Payload.GetId())
			}
			var id post.ID
			copy(id[:], v.Payload.GetId())
			if storedVersion(tx, friend, id) >= v.Payload.GetVersion() {
				n.Ignored++
				continue
			}
			if err := putPost(tx, friend, id, v.Payload, v.Envelope); err != nil {
				return err
			}
			n.Stored++
		}
		for _, id := range b.Revoked {
			k := postKey(friend, id)
			if tx.Bucket(bPosts).Get(k) != nil {
				n.Dropped++
			}
			if err := tx.Bucket(bPosts).Delete(k); err != nil {
				return err
			}
			if err := dropConversation(tx, friend, id); err != nil {
				return err
			}
		}
		if err := s.applyConversations(tx, friend, b.Conversations); err != nil {
			return fmt.Errorf("apply pull from %s: %w", friend.Short(), err)
		}
		if cur := getU64(tx.Bucket(bCursors).Get(friend[:])); b.Cursor < cur {
			return nil // an older answer arriving late: never move the cursor back
		}
		return tx.Bucket(bCursors).Put(friend[:], u64(b.Cursor))
	})
	return n, err
}

// Recovered stores own posts that a friend gave back (verified by the caller). They come
// back with the default audience, or public when they were public.
func (s *Store) Recovered(posts []Verified) (int, error) {
	n := 0
	err := s.update(func(tx *bolt.Tx) error {
		n = 0
		for _, v := range posts {
			if string(v.Payload.GetAuthor()) != string(s.self[:]) || !s.hasSelf {
				return fmt.Errorf("recovered post %x is not ours", v.Payload.GetId())
			}
			var id post.ID
			copy(id[:], v.Payload.GetId())
			if storedVersion(tx, s.self, id) >= v.Payload.GetVersion() {
				continue
			}
			a, shared := recoveredAudience(tx, id, v.Payload)
			if err := s.putOwn(tx, s.self, v.Envelope, v.Payload, a, shared); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// recoveredAudience is the audience a recovered version gets: the one held locally when
// there is one, but never wider or narrower than the signed visibility says (the public
// part always follows the payload, so a version its author made private is never served
// as public), and all friends when nothing else is known. The sharing history is kept.
func recoveredAudience(tx *bolt.Tx, id post.ID, p *postv1.Payload) (feed.Audience, *feed.Shared) {
	public := p.GetVisibility() == postv1.Visibility_VISIBILITY_PUBLIC
	m, err := getMeta(tx, id)
	if err != nil {
		if public {
			return feed.Audience{Public: true}, nil
		}
		return feed.Default(), nil
	}
	a := m.Audience
	a.Public = public
	if a.IsZero() {
		a = feed.Default()
	}
	return a, &m.Shared
}
