package store

import (
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Snapshot writes a consistent copy of the bbolt file to w while the store stays in use
// (for `kith export`). Blob bytes are not in it: list them with Blobs.
func (s *Store) Snapshot(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("snapshot: %w", err)
	}
	return n, nil
}

// Blobs calls fn for every stored blob: its SHA-256, size and file path.
func (s *Store) Blobs(fn func(sha []byte, size uint64, path string) error) error {
	type blob struct {
		sha  []byte
		size uint64
	}
	var all []blob
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bBlobs).ForEach(func(k, v []byte) error {
			all = append(all, blob{append([]byte(nil), k...), getU64(v)})
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, b := range all {
		if err := fn(b.sha, b.size, s.blobPath(b.sha)); err != nil {
			return err
		}
	}
	return nil
}
