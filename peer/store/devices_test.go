package store

import (
	"errors"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/post"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
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

// TestRevocations: only the person's own signature counts, only for self or a friend,
// and a later revocation never moves a device's revocation time later.
func TestRevocations(t *testing.T) {
	s, me := initT(t)
	alice, stranger, laptop := newKey(t), newKey(t), newKey(t)
	if err := s.PutFriend(Friend{Key: alice.Public(), Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	revoke := func(person *identity.Key, at time.Time) *signedv1.Envelope {
		t.Helper()
		cert, err := device.Issue(person, laptop.Public(), []byte("laptop01"), now.Add(-time.Hour), 2*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		c, err := device.Open(cert, person.Public())
		if err != nil {
			t.Fatal(err)
		}
		env, err := device.Revoke(person, c, at)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	early, late := revoke(alice, now), revoke(alice, now.Add(time.Minute))
	if changed, err := s.AddRevocation(alice.Public(), late); err != nil || !changed {
		t.Fatalf("first revocation: %v, %v", changed, err)
	}
	if changed, err := s.AddRevocation(alice.Public(), early); err != nil || !changed {
		t.Fatalf("an earlier revocation must replace a later one: %v, %v", changed, err)
	}
	if changed, err := s.AddRevocation(alice.Public(), late); err != nil || changed {
		t.Fatalf("a later revocation moved the time: %v, %v", changed, err)
	}
	rs, err := s.Revocations(alice.Public())
	if err != nil || len(rs) != 1 || !rs[0].At.Equal(now.Truncate(time.Millisecond)) || rs[0].Key != laptop.Public() {
		t.Fatalf("Revocations = %+v, %v; want the laptop revoked at the earlier time", rs, err)
	}
	if _, err := s.AddRevocation(stranger.Public(), revoke(stranger, now)); !errors.Is(err, ErrNotFriend) {
		t.Fatalf("a stranger's revocation: %v, want ErrNotFriend", err)
	}
	if _, err := s.AddRevocation(alice.Public(), revoke(stranger, now)); err == nil {
		t.Fatal("a revocation signed by someone else was kept as Alice's")
	}
	if _, err := s.AddRevocation(me.Public(), revoke(me, now)); err != nil {
		t.Fatalf("own revocation: %v", err)
	}
	if rs, _ := s.Revocations(stranger.Public()); len(rs) != 0 {
		t.Fatalf("revocations leaked across people: %+v", rs)
	}
}
