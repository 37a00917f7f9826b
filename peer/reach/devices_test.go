package reach

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/discovery"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// TestRevokedDeviceOffer: an offer from a device its person revoked (by the revocations
// this node holds) gets no answer; one from the identity or a device in good standing
// does; a node that cannot read the revocations answers no device.
func TestRevokedDeviceOffer(t *testing.T) {
	gen := func() *identity.Key {
		k, err := identity.Generate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	alice, laptop, mallory := gen(), gen(), gen()
	cert, err := device.Issue(alice, laptop.Public(), []byte("laptop01"), time.Now().Add(-time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := device.Open(cert, alice.Public())
	if err != nil {
		t.Fatal(err)
	}
	rev, err := device.Revoke(alice, c, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	r, err := device.OpenRevocation(rev, alice.Public())
	if err != nil {
		t.Fatal(err)
	}
	forged, err := device.Issue(mallory, laptop.Public(), []byte("laptop01"), time.Now().Add(-time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	fromLaptop := discovery.Offer{From: laptop.Public(), Person: alice.Public(), Offer: &rendezvousv1.Offer{DeviceCertificate: cert}}
	tests := []struct {
		name    string
		o       discovery.Offer
		revoked func(identity.PublicKey) ([]device.Revocation, error)
		want    bool
	}{
		{"the identity itself", discovery.Offer{From: alice.Public(), Person: alice.Public(), Offer: &rendezvousv1.Offer{}},
			func(identity.PublicKey) ([]device.Revocation, error) { return []device.Revocation{r}, nil }, false},
		{"a device in good standing", fromLaptop,
			func(identity.PublicKey) ([]device.Revocation, error) { return nil, nil }, false},
		{"a revoked device", fromLaptop,
			func(identity.PublicKey) ([]device.Revocation, error) { return []device.Revocation{r}, nil }, true},
		{"revocations unreadable", fromLaptop,
			func(identity.PublicKey) ([]device.Revocation, error) { return nil, errors.New("disk") }, true},
		{"a certificate from someone else", discovery.Offer{From: laptop.Public(), Person: alice.Public(), Offer: &rendezvousv1.Offer{DeviceCertificate: forged}},
			func(identity.PublicKey) ([]device.Revocation, error) { return nil, nil }, true},
	}
	for _, tt := range tests {
		a := &Agent{cfg: Config{Revoked: tt.revoked}}
		if got := a.revokedDevice(tt.o); got != tt.want {
			t.Errorf("%s: revokedDevice = %v, want %v", tt.name, got, tt.want)
		}
	}
	if (&Agent{}).revokedDevice(fromLaptop) {
		t.Error("an agent without revocations refused a device")
	}
}
