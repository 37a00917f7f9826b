package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// PutKit keeps a friend's recovery kit, unless the one held is as new or newer. The
// caller has verified that owner signed env (recovery.Verify); created is its time.
func (s *Store) PutKit(owner identity.PublicKey, env *signedv1.Envelope, created time.Time) (bool, error) {
	data, err := proto.Marshal(env)
	if err != nil {
		return false, err
	}
	kept := false
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bKits)
		if old := b.Get(owner[:]); old != nil {
			var held signedv1.Envelope
			var rk syncv1.RecoveryKit
			if proto.Unmarshal(old, &held) == nil && proto.Unmarshal(held.GetPayload(), &rk) == nil &&
				rk.GetCreatedUnixMs() >= created.UnixMilli() {
				return nil
			}
		}
		kept = true
		return b.Put(owner[:], data)
	})
	if err != nil {
		return false, fmt.Errorf("keep recovery kit of %s: %w", owner.Short(), err)
	}
	return kept, nil
}

// Kit returns the recovery kit held for owner, or ErrNotFound.
func (s *Store) Kit(owner identity.PublicKey) (*signedv1.Envelope, error) {
	var env signedv1.Envelope
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bKits).Get(owner[:])
		if v == nil {
			return fmt.Errorf("recovery kit of %s: %w", owner.Short(), ErrNotFound)
		}
		return proto.Unmarshal(v, &env)
	})
	if err != nil {
		return nil, err
	}
	return &env, nil
}
