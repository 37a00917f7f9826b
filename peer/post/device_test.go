package post

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

func newKey(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestOpenChain: a post written on a certified device is the person's post; one the
// device signs at or after its revocation, or with someone else's certificate, is not.
func TestOpenChain(t *testing.T) {
	t0 := time.UnixMilli(1_800_000_000_000)
	alice, laptop, bob := newKey(t), newKey(t), newKey(t)
	cert, err := device.Issue(alice, laptop.Public(), []byte("laptop01"), t0, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := device.Open(cert, alice.Public())
	if err != nil {
		t.Fatal(err)
	}
	revEnv, err := device.Revoke(alice, c, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rev, err := device.OpenRevocation(revEnv, alice.Public())
	if err != nil {
		t.Fatal(err)
	}
	bobsCert, err := device.Issue(bob, laptop.Public(), []byte("laptop01"), t0, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	seal := func(at time.Time, cert *signedv1.Envelope) *signedv1.Envelope {
		t.Helper()
		env, p, err := SealDevice(laptop, alice.Public(), cert, Draft{Text: "from the laptop", Now: at})
		if err != nil {
			t.Fatal(err)
		}
		if string(p.GetAuthor()) != string(alice.Public().Bytes()) {
			t.Fatal("a device's post does not name the person as author")
		}
		return env
	}
	identityPost, _, err := SealDevice(alice, alice.Public(), nil, Draft{Text: "from the identity", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	stripped := seal(t0.Add(time.Minute), cert)
	stripped.Certificate = nil
	tests := []struct {
		name    string
		env     *signedv1.Envelope
		want    identity.PublicKey
		revoked []device.Revocation
		err     error
	}{
		{"identity key", identityPost, alice.Public(), nil, nil},
		{"certified device", seal(t0.Add(time.Minute), cert), alice.Public(), []device.Revocation{rev}, nil},
		{"just before revocation", seal(t0.Add(time.Hour-time.Millisecond), cert), alice.Public(), []device.Revocation{rev}, nil},
		{"at revocation", seal(t0.Add(time.Hour), cert), alice.Public(), []device.Revocation{rev}, device.ErrRevoked},
		{"after revocation", seal(t0.Add(2*time.Hour), cert), alice.Public(), []device.Revocation{rev}, device.ErrRevoked},
		{"certificate from another person", seal(t0.Add(time.Minute), bobsCert), alice.Public(), nil, device.ErrNotCertified},
		{"no certificate", stripped, alice.Public(), nil, device.ErrNotCertified},
		{"expected someone else", seal(t0.Add(time.Minute), cert), bob.Public(), nil, ErrWrongAuthor},
		{"after the certificate expired", seal(t0.Add(25*time.Hour), cert), alice.Public(), nil, device.ErrExpired},
		{"missing", nil, alice.Public(), nil, signed.ErrMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, got, err := OpenChain(tt.env, tt.want, tt.revoked)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || p != nil {
					t.Fatalf("OpenChain = %v, %v; want %v and no post", p, err, tt.err)
				}
				return
			}
			if err != nil || p == nil || got.Identity != alice.Public() {
				t.Fatalf("OpenChain = %v, %v; want accepted as Alice's", got, err)
			}
			if got.Key != identity.PublicKey(tt.env.GetSigner()) {
				t.Fatal("OpenChain did not return the signing key")
			}
		})
	}
	// The strict opener keeps refusing a device signature: callers that do not know
	// the person's revocations cannot be fooled into accepting one.
	if _, err := OpenFrom(seal(t0.Add(time.Minute), cert), alice.Public()); !errors.Is(err, ErrWrongAuthor) {
		t.Fatalf("OpenFrom accepted a device-signed post: %v", err)
	}
}
