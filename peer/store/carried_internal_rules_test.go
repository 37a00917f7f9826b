package store

import (
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
)

// A file from before carrying gets every carrying bucket back when opened.
func TestEnsureCarryBucketsAddsMissing(t *testing.T) {
	s, _ := initT(t)
	if err := s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range carryBuckets {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := ensureCarryBuckets(s.db); err != nil {
		t.Fatal(err)
	}
	_ = s.db.View(func(tx *bolt.Tx) error {
		for _, b := range carryBuckets {
			if tx.Bucket(b) == nil {
				t.Errorf("bucket %s missing after ensureCarryBuckets", b)
			}
		}
		return nil
	})
}

// A dropped parcel leaves none of its bytes behind.
func TestDroppedParcelLeavesNothing(t *testing.T) {
	s, _ := initT(t)
	f := newKey(t)
	if err := s.PutFriend(Friend{Key: f.Public(), Name: "f"}); err != nil {
		t.Fatal(err)
	}
	slot := make([]byte, 32)
	slot[0] = 7
	env := &signedv1.Envelope{Payload: []byte("sealed bytes")}
	p := &syncv1.Parcel{Slot: slot, Seq: 1, Acks: [][]byte{make([]byte, 32)}}
	res, err := s.ApplyParcels(f.Public(), ParcelBatch{Carry: []*signedv1.Envelope{env}, Parcels: []*syncv1.Parcel{p}}, CarryPolicy{Quota: 1 << 20})
	if err != nil || res.Kept != 1 {
		t.Fatalf("kept %d (%v), want 1", res.Kept, err)
	}
	if n, err := s.ExpireCarried(-time.Hour); err != nil || n != 1 {
		t.Fatalf("expired %d (%v), want 1", n, err)
	}
	_ = s.db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bParcels, bParcelMeta, bParcelLog, bCarryUse} {
			if k, _ := tx.Bucket(b).Cursor().First(); k != nil {
				t.Errorf("bucket %s still holds %x after the only parcel went", b, k)
			}
		}
		return nil
	})
}
