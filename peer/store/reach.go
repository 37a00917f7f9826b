package store

import (
	"crypto/rand"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/shared/identity"
)

// Reachability keys (issue 13, item 4): the person's candidates are sealed in the
// rendezvous record under a 32-byte key that only friends receive (kith.sync.v1
// GetReachability); removing a friend rotates it, so the removed friend cannot read
// the next registration. Friends' keys are kept beside them. All live in the meta
// bucket under new keys: no schema change.
var (
	metaReachKey    = []byte("reachkey") // the person's current key
	metaFriendReach = []byte("reachof/") // || friend key -> that friend's key
)

// reachKeyLen is the length of a reachability key (XChaCha20-Poly1305).
const reachKeyLen = 32

// ReachKey returns the person's current reachability key, making one on first use.
func (s *Store) ReachKey() ([]byte, error) {
	var key []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		key = clone(tx.Bucket(bMeta).Get(metaReachKey))
		return nil
	})
	if err != nil || len(key) == reachKeyLen {
		return key, err
	}
	err = s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if k := meta.Get(metaReachKey); len(k) == reachKeyLen {
			key = clone(k)
			return nil
		}
		key = newReachKey()
		return meta.Put(metaReachKey, key)
	})
	return key, err
}

// rotateReachKey replaces the person's reachability key inside tx and forgets what the
// removed friend gave us.
func rotateReachKey(tx *bolt.Tx, removed identity.PublicKey) error {
	meta := tx.Bucket(bMeta)
	if err := meta.Put(metaReachKey, newReachKey()); err != nil {
		return err
	}
	if err := meta.Delete(lastPathKey(removed)); err != nil {
		return err
	}
	return meta.Delete(friendReachKey(removed))
}

// FriendReachKey returns the reachability key a friend gave us, nil when none.
func (s *Store) FriendReachKey(k identity.PublicKey) ([]byte, error) {
	var key []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		key = clone(tx.Bucket(bMeta).Get(friendReachKey(k)))
		return nil
	})
	return key, err
}

// SetFriendReachKey keeps the reachability key a friend gave us; only friends' keys are
// kept, and a key of the wrong length is refused.
func (s *Store) SetFriendReachKey(k identity.PublicKey, key []byte) error {
	if len(key) != reachKeyLen {
		return fmt.Errorf("reachability key of %s: %d bytes, want %d", k.Short(), len(key), reachKeyLen)
	}
	return s.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bFriends).Get(k[:]) == nil {
			return fmt.Errorf("reachability key of %s: %w", k.Short(), ErrNotFriend)
		}
		return tx.Bucket(bMeta).Put(friendReachKey(k), clone(key))
	})
}

func friendReachKey(k identity.PublicKey) []byte {
	return append(append([]byte(nil), metaFriendReach...), k[:]...)
}

func newReachKey() []byte {
	k := make([]byte, reachKeyLen)
	rand.Read(k)
	return k
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
