package store

import (
	"testing"
	"time"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/shared/device"
)

// TestEditsFromTwoDevicesConverge: Alice's laptop and desktop both edit post P to
// version 2 while apart. Bob's and Carol's nodes receive the two versions in opposite
// orders, and both keep the same one: the version signed by the key with the larger
// fingerprint (shared/device.Newer). A later version 3 replaces either.
func TestEditsFromTwoDevicesConverge(t *testing.T) {
	alice, laptop, desktop := newKey(t), newKey(t), newKey(t)
	now := time.Now()
	lc, err := device.Issue(alice, laptop.Public(), []byte("laptop01"), now.Add(-time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := device.Issue(alice, desktop.Public(), []byte("desktop1"), now.Add(-time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id, err := post.NewID(nil)
	if err != nil {
		t.Fatal(err)
	}
	created := now.Add(-30 * time.Second)
	fromLaptop, lp, err := post.SealDevice(laptop, alice.Public(), lc, post.Draft{ID: id, Version: 2, Created: created, Now: now, Text: "laptop's edit"})
	if err != nil {
		t.Fatal(err)
	}
	fromDesktop, dp, err := post.SealDevice(desktop, alice.Public(), dc, post.Draft{ID: id, Version: 2, Created: created, Now: now, Text: "desktop's edit"})
	if err != nil {
		t.Fatal(err)
	}
	winner := "laptop's edit"
	if desktop.Public().Fingerprint() > laptop.Public().Fingerprint() {
		winner = "desktop's edit"
	}
	orders := [][]Verified{
		{{fromLaptop, lp}, {fromDesktop, dp}},
		{{fromDesktop, dp}, {fromLaptop, lp}},
	}
	for i, order := range orders {
		s, _ := initT(t)
		if err := s.PutFriend(Friend{Key: alice.Public(), Name: "alice"}); err != nil {
			t.Fatal(err)
		}
		for j, v := range order {
			if _, err := s.Apply(alice.Public(), Batch{Posts: []Verified{v}, Cursor: uint64(j + 1)}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Post(alice.Public(), id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Payload.GetText() != winner {
			t.Fatalf("node %d (order %d) holds %q, want %q on every node", i, i, got.Payload.GetText(), winner)
		}
		// A later version from the losing device still replaces the winner.
		lk, lcert := desktop, dc
		if winner == "desktop's edit" {
			lk, lcert = laptop, lc
		}
		v3, p3, err := post.SealDevice(lk, alice.Public(), lcert, post.Draft{ID: id, Version: 3, Created: created, Now: now.Add(time.Second), Text: "v3"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Apply(alice.Public(), Batch{Posts: []Verified{{v3, p3}}, Cursor: 9}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Post(alice.Public(), id); got.Payload.GetText() != "v3" {
			t.Fatalf("version 3 did not replace the tie's winner: %q", got.Payload.GetText())
		}
	}
}
