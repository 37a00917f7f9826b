package store

import (
	"errors"
	"testing"
	"time"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// A person's revocations are kept up to MaxRevocations exactly; one more is refused,
// and another person's revocations count apart.
func TestRevocationCap(t *testing.T) {
	s, _ := initT(t)
	alice, bob := newKey(t), newKey(t)
	for _, f := range []Friend{{Key: alice.Public(), Name: "alice"}, {Key: bob.Public(), Name: "bob"}} {
		if err := s.PutFriend(f); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	revoke := func(person *identity.Key) *signedv1.Envelope {
		t.Helper()
		cert, err := device.Issue(person, newKey(t).Public(), []byte("laptop01"), now.Add(-time.Hour), 2*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		c, err := device.Open(cert, person.Public())
		if err != nil {
			t.Fatal(err)
		}
		env, err := device.Revoke(person, c, now)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	if _, err := s.AddRevocation(bob.Public(), revoke(bob)); err != nil {
		t.Fatal(err)
	}
	for i := range MaxRevocations {
		if changed, err := s.AddRevocation(alice.Public(), revoke(alice)); err != nil || !changed {
			t.Fatalf("revocation %d of %d: changed %v (%v)", i+1, MaxRevocations, changed, err)
		}
	}
	if _, err := s.AddRevocation(alice.Public(), revoke(alice)); !errors.Is(err, ErrTooManyRevocations) {
		t.Errorf("revocation %d: %v, want ErrTooManyRevocations", MaxRevocations+1, err)
	}
	if changed, err := s.AddRevocation(bob.Public(), revoke(bob)); err != nil || !changed {
		t.Errorf("bob's second revocation while alice is full: changed %v (%v)", changed, err)
	}
}
