package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// Device revocations (issue 16; docs/DESIGN.md "Devices: one person, several keys").
// A person's verified revocations are kept here, for this home's own person and for
// friends, so that the transport and the puller refuse what a revoked device signs.
// They are only ever added: a revocation cannot be withdrawn, and a second one for the
// same device never moves its time later. The bucket is made on first write, so older
// homes need no schema step.

// bRevoked maps person(32) || device key(32) -> marshalled revocation envelope.
var bRevoked = []byte("revoked")

// MaxRevocations bounds the revocations kept per person.
const MaxRevocations = 256

// ErrTooManyRevocations means a person has MaxRevocations revocations here already.
var ErrTooManyRevocations = errors.New("too many device revocations for one person")

// AddRevocation verifies env as a revocation signed by person and keeps it. person must
// be this home's own or a friend's. It reports whether anything changed (false: this
// device was revoked here already, at the same time or earlier).
func (s *Store) AddRevocation(person identity.PublicKey, env *signedv1.Envelope) (bool, error) {
	r, err := device.OpenRevocation(env, person)
	if err != nil {
		return false, fmt.Errorf("revocation for %s: %w", person.Short(), err)
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(env)
	if err != nil {
		return false, err
	}
	changed := false
	err = s.update(func(tx *bolt.Tx) error {
		if !(s.hasSelf && person == s.self) && tx.Bucket(bFriends).Get(person[:]) == nil {
			return fmt.Errorf("revocation for %s: %w", person.Short(), ErrNotFriend)
		}
		changed, err = putRevocationLocked(tx, person, r, raw)
		return err
	})
	return changed, err
}

// putRevocationLocked keeps person's verified revocation r (raw as signed) unless one
// for the same device, taking effect no later, is held. It reports whether it wrote.
func putRevocationLocked(tx *bolt.Tx, person identity.PublicKey, r device.Revocation, raw []byte) (bool, error) {
	b, err := tx.CreateBucketIfNotExists(bRevoked)
	if err != nil {
		return false, err
	}
	k := append(append([]byte(nil), person[:]...), r.Key[:]...)
	if old := b.Get(k); old != nil {
		if held, err := openHeldRevocation(old, person); err == nil && !held.At.After(r.At) {
			return false, nil
		}
	} else if countPrefix(b, person[:]) >= MaxRevocations {
		return false, fmt.Errorf("revocation for %s: %w", person.Short(), ErrTooManyRevocations)
	}
	return true, b.Put(k, raw)
}

// Revocations returns person's revocations held here, each verified again.
func (s *Store) Revocations(person identity.PublicKey) ([]device.Revocation, error) {
	envs, err := s.RevocationEnvelopes(person)
	if err != nil {
		return nil, err
	}
	out := make([]device.Revocation, 0, len(envs))
	for _, env := range envs {
		r, err := device.OpenRevocation(env, person)
		if err != nil {
			return nil, fmt.Errorf("held revocation for %s: %w", person.Short(), err)
		}
		out = append(out, r)
	}
	return out, nil
}

// RevocationEnvelopes returns person's revocations as signed, to hand on to others.
func (s *Store) RevocationEnvelopes(person identity.PublicKey) ([]*signedv1.Envelope, error) {
	var out []*signedv1.Envelope
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bRevoked)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(person[:]); k != nil && len(k) == 64 && string(k[:32]) == string(person[:]); k, v = c.Next() {
			env := &signedv1.Envelope{}
			if err := proto.Unmarshal(v, env); err != nil {
				return fmt.Errorf("held revocation for %s: %w", person.Short(), err)
			}
			out = append(out, env)
		}
		return nil
	})
	return out, err
}

func openHeldRevocation(raw []byte, person identity.PublicKey) (device.Revocation, error) {
	env := &signedv1.Envelope{}
	if err := proto.Unmarshal(raw, env); err != nil {
		return device.Revocation{}, err
	}
	return device.OpenRevocation(env, person)
}

func countPrefix(b *bolt.Bucket, prefix []byte) int {
	n := 0
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix); k, _ = c.Next() {
		n++
	}
	return n
}
