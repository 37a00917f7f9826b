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

// The device key at rest (issue 16; docs/DESIGN.md "Own devices reach each other
// through the rendezvous; join codes' validity; the device key at rest"). A joined
// device keeps its key in meta "devseed" plain, or, when `kith init --join` was given
// a passphrase, in "devseedenc": a key file in the identity's format (shared/identity,
// age scrypt), as "seedenc" holds an identity key. The device key's public half is
// readable without the passphrase from the certificate beside it ("devcert").

var metaDevSeedEnc = []byte("devseedenc")

// isDeviceMeta reports whether meta holds a device key, plain or encrypted.
func isDeviceMeta(meta *bolt.Bucket) bool {
	return meta.Get(metaDevSeed) != nil || meta.Get(metaDevSeedEnc) != nil
}

// deviceKey is this home's device key: unlocked in this process, or plain in meta.
// ErrKeyLocked when it is encrypted and not unlocked; ErrNoIdentity when the home is
// no device.
func (s *Store) deviceKey() (*identity.Key, error) {
	s.mu.Lock()
	k := s.devKey
	s.mu.Unlock()
	if k != nil {
		return k, nil
	}
	var seed []byte
	var enc bool
	if err := s.db.View(func(tx *bolt.Tx) error {
		seed = append([]byte(nil), tx.Bucket(bMeta).Get(metaDevSeed)...)
		enc = tx.Bucket(bMeta).Get(metaDevSeedEnc) != nil
		return nil
	}); err != nil {
		return nil, err
	}
	switch {
	case len(seed) > 0:
		k, err := identity.FromSeed(seed)
		if err != nil {
			return nil, fmt.Errorf("device key: %w: %v", ErrCorrupt, err)
		}
		return k, nil
	case enc:
		return nil, ErrKeyLocked
	}
	return nil, ErrNoIdentity
}

// deviceCertificate is this device's certificate as stored, checked against the
// person: it names the device key without the passphrase.
func (s *Store) deviceCertificate() (*signedv1.Envelope, device.Certificate, error) {
	var raw []byte
	if err := s.db.View(func(tx *bolt.Tx) error {
		raw = append([]byte(nil), tx.Bucket(bMeta).Get(metaDevCert)...)
		return nil
	}); err != nil {
		return nil, device.Certificate{}, err
	}
	if len(raw) == 0 || !s.hasSelf {
		return nil, device.Certificate{}, ErrNoIdentity
	}
	env := &signedv1.Envelope{}
	if err := proto.Unmarshal(raw, env); err != nil {
		return nil, device.Certificate{}, fmt.Errorf("device certificate: %w: %v", ErrCorrupt, err)
	}
	c, err := device.Open(env, s.self)
	if err != nil {
		return nil, device.Certificate{}, fmt.Errorf("this device's certificate: %w", err)
	}
	return env, c, nil
}

// unlockDevice decrypts the device key sealed with passphrase and keeps it in memory;
// it must be the key the stored certificate names. Nothing is written.
func (s *Store) unlockDevice(sealed, passphrase []byte) error {
	k, err := identity.UnmarshalKey(sealed, passphrase)
	if err != nil {
		return fmt.Errorf("unlock the device key: %w", err)
	}
	_, c, err := s.deviceCertificate()
	if err != nil {
		return fmt.Errorf("unlock the device key: %w", err)
	}
	if c.Key != k.Public() {
		return fmt.Errorf("unlock the device key: %w: it is not the key this device's certificate names", ErrCorrupt)
	}
	s.mu.Lock()
	s.devKey = k
	s.mu.Unlock()
	return nil
}

// devSeedEntry is what BecomeDeviceAtRest stores for dev: the plain seed, or with a
// passphrase in opts, the key file encrypted under it.
func devSeedEntry(dev *identity.Key, opts identity.KeyFileOptions) ([2][]byte, error) {
	if len(opts.Passphrase) == 0 {
		return [2][]byte{metaDevSeed, dev.Seed()}, nil
	}
	sealed, err := identity.MarshalKey(dev, opts)
	if err != nil {
		return [2][]byte{}, fmt.Errorf("encrypt the device key: %w", err)
	}
	return [2][]byte{metaDevSeedEnc, sealed}, nil
}

// errNotEncrypted means Unlock was called on a home whose keys are plain.
var errNotEncrypted = errors.New("unlock: the key is not encrypted")
