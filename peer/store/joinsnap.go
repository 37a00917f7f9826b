package store

import (
	"fmt"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

// A new device's first copy of the home (issue 16, `kith init --join`). It is Export's
// tar stream, except that the bbolt file is rebuilt key by key without the identity key
// or any device key: a plain copy of the file would carry the seed's bytes in its pages
// (bbolt leaves deleted values in free pages), so they are never written at all.

// secretMeta are the meta keys a join snapshot leaves out.
var secretMeta = [][]byte{metaSeed, metaSeedEnc, metaDevSeed, metaDevSeedEnc, metaDevCert}

// JoinSnapshot writes a snapshot of the home for a new device of the person, as Export
// does, without the identity key.
func (s *Store) JoinSnapshot(w io.Writer, progress func(done, total uint64)) error {
	f, err := os.CreateTemp(s.home, ".join-*.db")
	if err != nil {
		return fmt.Errorf("join snapshot: %w", err)
	}
	path := f.Name()
	f.Close()
	defer os.Remove(path)
	dst, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true})
	if err != nil {
		return fmt.Errorf("join snapshot: %w", err)
	}
	defer dst.Close()
	return s.db.View(func(tx *bolt.Tx) error {
		if err := dst.Update(func(dtx *bolt.Tx) error { return copyWithoutSecrets(tx, dtx, s.self) }); err != nil {
			return fmt.Errorf("join snapshot: %w", err)
		}
		return dst.View(func(dtx *bolt.Tx) error {
			return s.exportTx(tx, w, dtx.Size(), dtx.WriteTo, progress)
		})
	})
}

// copyWithoutSecrets copies every bucket of src into dst but the secret meta keys; meta
// "pub" names self, so the copy knows its person.
func copyWithoutSecrets(src, dst *bolt.Tx, self identity.PublicKey) error {
	err := src.ForEach(func(name []byte, b *bolt.Bucket) error {
		nb, err := dst.CreateBucket(name)
		if err != nil {
			return err
		}
		skip := func([]byte) bool { return false }
		if string(name) == string(bMeta) {
			skip = func(k []byte) bool {
				for _, s := range secretMeta {
					if string(k) == string(s) {
						return true
					}
				}
				return false
			}
		}
		return copyBucket(b, nb, skip)
	})
	if err != nil {
		return err
	}
	return dst.Bucket(bMeta).Put(metaPub, self[:])
}

// copyBucket copies src's keys (but those skip names), nested buckets and sequence.
func copyBucket(src, dst *bolt.Bucket, skip func([]byte) bool) error {
	dst.FillPercent = 0.9 // keys arrive in order
	if err := dst.SetSequence(src.Sequence()); err != nil {
		return err
	}
	return src.ForEach(func(k, v []byte) error {
		if skip(k) {
			return nil
		}
		if v == nil {
			nb, err := dst.CreateBucket(k)
			if err != nil {
				return err
			}
			return copyBucket(src.Bucket(k), nb, func([]byte) bool { return false })
		}
		return dst.Put(k, v)
	})
}

// ImportDevice restores a JoinSnapshot stream into home (which must hold no store yet)
// and makes it the device dev of the person cert certifies. As with Import, nothing is
// left behind on any error.
func ImportDevice(home string, r io.Reader, dev *identity.Key, cert *signedv1.Envelope) error {
	return ImportDeviceAtRest(home, r, dev, cert, identity.KeyFileOptions{})
}

// ImportDeviceAtRest is ImportDevice with the device key encrypted under
// opts.Passphrase when it is set (Store.BecomeDeviceAtRest).
func ImportDeviceAtRest(home string, r io.Reader, dev *identity.Key, cert *signedv1.Envelope, opts identity.KeyFileOptions) error {
	return importHome(home, r, func(st *Store) error {
		person, err := identity.PublicKeyFromBytes(cert.GetSigner())
		if err != nil {
			return fmt.Errorf("join: device certificate: %w", err)
		}
		if self, err := st.Self(); err != nil || self != person {
			return fmt.Errorf("%w: the snapshot is not of the person that certified this device", ErrBadExport)
		}
		return st.BecomeDeviceAtRest(dev, cert, opts)
	})
}
