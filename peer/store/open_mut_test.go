package store

import (
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestEnsureConvoBucketsWritesOnlyWhenMissing: a file that has every conversation bucket
// gets no write transaction; one that lacks one gets it back.
func TestEnsureConvoBucketsWritesOnlyWhenMissing(t *testing.T) {
	s, _ := initT(t)
	txid := func() int {
		t.Helper()
		id := 0
		if err := s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
			t.Fatal(err)
		}
		return id
	}
	before := txid()
	if err := ensureConvoBuckets(s.db); err != nil {
		t.Fatal(err)
	}
	if after := txid(); after != before {
		t.Errorf("all buckets there: %d write transactions", after-before)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bConvRev) }); err != nil {
		t.Fatal(err)
	}
	if err := ensureConvoBuckets(s.db); err != nil {
		t.Fatal(err)
	}
	if err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bConvRev) == nil {
			t.Error("a missing conversation bucket was not created")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
