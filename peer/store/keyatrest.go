package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/shared/identity"
)

// ErrKeyLocked means the home's identity key is encrypted at rest and has not been
// unlocked with its passphrase (Unlock) in this process.
var ErrKeyLocked = errors.New("the identity key is encrypted: unlock it with its passphrase")

// Meta keys of the identity: "seed" holds a plain key; "seedenc" a key file encrypted
// under a passphrase (shared/identity's format, age scrypt), with "pub" beside it so the
// home's ID is known without the passphrase.
var (
	metaSeed    = []byte("seed")
	metaSeedEnc = []byte("seedenc")
	metaPub     = []byte("pub")
)

// InitEncrypted stores a new identity encrypted under opts.Passphrase (which must be set)
// and the profile name. It refuses a home that has an identity. The key stays usable in
// this process; a later Open needs Unlock.
func (s *Store) InitEncrypted(k *identity.Key, name string, opts identity.KeyFileOptions) error {
	if len(opts.Passphrase) == 0 {
		return errors.New("encrypt the identity key: empty passphrase")
	}
	sealed, err := identity.MarshalKey(k, opts)
	if err != nil {
		return err
	}
	err = s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if hasIdentity(meta) {
			return ErrHasIdentity
		}
		for _, kv := range [][2][]byte{{metaSeedEnc, sealed}, {metaPub, k.Public().Bytes()}, {[]byte("name"), []byte(name)}} {
			if err := meta.Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.key = k
	s.mu.Unlock()
	s.self, s.hasSelf = k.Public(), true
	return nil
}

// KeyEncrypted reports whether the home's key is encrypted at rest: the identity key,
// or on a joined device the device key.
func (s *Store) KeyEncrypted() (bool, error) {
	var enc bool
	err := s.db.View(func(tx *bolt.Tx) error {
		enc = tx.Bucket(bMeta).Get(metaSeedEnc) != nil || tx.Bucket(bMeta).Get(metaDevSeedEnc) != nil
		return nil
	})
	return enc, err
}

// Unlock decrypts the home's key with passphrase and keeps it in memory: the identity
// key for Key, or on a joined device the device key for Signer. A wrong passphrase is
// identity.ErrWrongPassphrase; nothing is written either way.
func (s *Store) Unlock(passphrase []byte) error {
	var sealed, devSealed []byte
	if err := s.db.View(func(tx *bolt.Tx) error {
		sealed = append([]byte(nil), tx.Bucket(bMeta).Get(metaSeedEnc)...)
		devSealed = append([]byte(nil), tx.Bucket(bMeta).Get(metaDevSeedEnc)...)
		return nil
	}); err != nil {
		return err
	}
	if len(sealed) == 0 && len(devSealed) > 0 {
		return s.unlockDevice(devSealed, passphrase)
	}
	if len(sealed) == 0 {
		return errNotEncrypted
	}
	k, err := identity.UnmarshalKey(sealed, passphrase)
	if err != nil {
		return fmt.Errorf("unlock the identity key: %w", err)
	}
	if s.hasSelf && k.Public() != s.self {
		return fmt.Errorf("unlock the identity key: %w: it is not this home's key", ErrCorrupt)
	}
	s.mu.Lock()
	s.key = k
	s.mu.Unlock()
	return nil
}

// Self returns the home's public key, readable without the passphrase.
func (s *Store) Self() (identity.PublicKey, error) {
	if !s.hasSelf {
		return identity.PublicKey{}, ErrNoIdentity
	}
	return s.self, nil
}

func hasIdentity(meta *bolt.Bucket) bool {
	return meta.Get(metaSeed) != nil || meta.Get(metaSeedEnc) != nil || isDeviceMeta(meta)
}

// selfFromMeta reads the home's public key: from the plain seed or from "pub".
func selfFromMeta(tx *bolt.Tx) (identity.PublicKey, bool) {
	meta := tx.Bucket(bMeta)
	if seed := meta.Get(metaSeed); seed != nil {
		if k, err := identity.FromSeed(seed); err == nil {
			return k.Public(), true
		}
	}
	if pub := meta.Get(metaPub); pub != nil {
		if k, err := identity.PublicKeyFromBytes(pub); err == nil {
			return k, true
		}
	}
	return identity.PublicKey{}, false
}
