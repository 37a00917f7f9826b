package device

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

func key(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var t0 = time.UnixMilli(1_800_000_000_000)

type fixture struct {
	alice, laptop, phone, mallory *identity.Key
	laptopCert, phoneCert         *signedv1.Envelope
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	f := fixture{alice: key(t), laptop: key(t), phone: key(t), mallory: key(t)}
	var err error
	if f.laptopCert, err = Issue(f.alice, f.laptop.Public(), []byte("laptop01"), t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	if f.phoneCert, err = Issue(f.alice, f.phone.Public(), []byte("phone001"), t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	return f
}

func revocation(t *testing.T, id *identity.Key, cert *signedv1.Envelope, at time.Time) Revocation {
	t.Helper()
	c, err := Open(cert, id.Public())
	if err != nil {
		t.Fatal(err)
	}
	env, err := Revoke(id, c, at)
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenRevocation(env, id.Public())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// reseal signs a hand-made certificate payload with k, for malformed cases.
func reseal(t *testing.T, k *identity.Key, ctx identity.Context, m proto.Message) *signedv1.Envelope {
	t.Helper()
	env, err := signed.Seal(k, ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestCheck(t *testing.T) {
	f := newFixture(t)
	revoked := []Revocation{revocation(t, f.alice, f.phoneCert, t0.Add(30*time.Minute))}
	malloryCert, err := Issue(f.mallory, f.laptop.Public(), []byte("laptop01"), t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	forgedField := reseal(t, f.alice, identity.ContextDeviceCertificate, &rendezvousv1.DeviceCertificate{
		IdentityKey: f.mallory.Public().Bytes(), DeviceKey: f.laptop.Public().Bytes(), DeviceId: []byte("laptop01"),
		NotBeforeUnixMs: t0.UnixMilli(), NotAfterUnixMs: t0.Add(time.Hour).UnixMilli(),
	})
	shortID := reseal(t, f.alice, identity.ContextDeviceCertificate, &rendezvousv1.DeviceCertificate{
		IdentityKey: f.alice.Public().Bytes(), DeviceKey: f.laptop.Public().Bytes(), DeviceId: []byte("l"),
		NotBeforeUnixMs: t0.UnixMilli(), NotAfterUnixMs: t0.Add(time.Hour).UnixMilli(),
	})
	inverted := reseal(t, f.alice, identity.ContextDeviceCertificate, &rendezvousv1.DeviceCertificate{
		IdentityKey: f.alice.Public().Bytes(), DeviceKey: f.laptop.Public().Bytes(), DeviceId: []byte("laptop01"),
		NotBeforeUnixMs: t0.UnixMilli(), NotAfterUnixMs: t0.UnixMilli(),
	})
	wrongContext := reseal(t, f.alice, identity.ContextPost, &rendezvousv1.DeviceCertificate{
		IdentityKey: f.alice.Public().Bytes(), DeviceKey: f.laptop.Public().Bytes(), DeviceId: []byte("laptop01"),
		NotBeforeUnixMs: t0.UnixMilli(), NotAfterUnixMs: t0.Add(time.Hour).UnixMilli(),
	})
	tests := []struct {
		name    string
		signer  identity.PublicKey
		cert    *signedv1.Envelope
		at      time.Time
		revoked []Revocation
		want    error // nil: accepted
	}{
		{"identity itself", f.alice.Public(), nil, t0, nil, nil},
		{"certified laptop", f.laptop.Public(), f.laptopCert, t0.Add(time.Minute), revoked, nil},
		{"first instant of validity", f.laptop.Public(), f.laptopCert, t0, nil, nil},
		{"no certificate", f.laptop.Public(), nil, t0, nil, ErrNotCertified},
		{"certificate of another device", f.laptop.Public(), f.phoneCert, t0, nil, ErrNotCertified},
		{"certificate by another person", f.laptop.Public(), malloryCert, t0, nil, ErrNotCertified},
		{"payload names another identity", f.laptop.Public(), forgedField, t0, nil, signed.ErrWrongSigner},
		{"short device id", f.laptop.Public(), shortID, t0, nil, ErrBadID},
		{"empty validity", f.laptop.Public(), inverted, t0, nil, ErrBadValidity},
		{"signed under another context", f.laptop.Public(), wrongContext, t0, nil, identity.ErrBadSignature},
		{"before validity", f.laptop.Public(), f.laptopCert, t0.Add(-time.Millisecond), nil, ErrNotValidYet},
		{"at expiry", f.laptop.Public(), f.laptopCert, t0.Add(time.Hour), nil, ErrExpired},
		{"laptop after the phone's revocation", f.laptop.Public(), f.laptopCert, t0.Add(45 * time.Minute), revoked, nil},
		{"phone before its revocation", f.phone.Public(), f.phoneCert, t0.Add(30*time.Minute - time.Millisecond), revoked, nil},
		{"phone at its revocation", f.phone.Public(), f.phoneCert, t0.Add(30 * time.Minute), revoked, ErrRevoked},
		{"phone after its revocation", f.phone.Public(), f.phoneCert, t0.Add(31 * time.Minute), revoked, ErrRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Check(f.alice.Public(), tt.signer, tt.cert, tt.revoked, tt.at)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check = %v, want accepted", err)
				}
				if c.Key != tt.signer || c.Identity != f.alice.Public() {
					t.Fatalf("Check returned certificate for %s of %s", c.Key.Short(), c.Identity.Short())
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRevocationByIDAlone(t *testing.T) {
	f := newFixture(t)
	// A new key certified under a revoked device id is still that device: refused.
	r := revocation(t, f.alice, f.phoneCert, t0)
	again, err := Issue(f.alice, f.mallory.Public(), []byte("phone001"), t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Check(f.alice.Public(), f.mallory.Public(), again, []Revocation{r}, t0.Add(time.Second)); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked device id under a new key: %v, want ErrRevoked", err)
	}
	// Someone else's revocation of the same id does not touch Alice's device.
	bob := key(t)
	bobCert, err := Issue(bob, f.phone.Public(), []byte("phone001"), t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Check(bob.Public(), f.phone.Public(), bobCert, []Revocation{r}, t0.Add(time.Second)); err != nil {
		t.Fatalf("Alice's revocation applied to Bob's device: %v", err)
	}
}

func TestOpenRevocation(t *testing.T) {
	f := newFixture(t)
	c, err := Open(f.phoneCert, f.alice.Public())
	if err != nil {
		t.Fatal(err)
	}
	env, err := Revoke(f.alice, c, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenRevocation(env, f.mallory.Public()); !errors.Is(err, signed.ErrWrongSigner) {
		t.Fatalf("revocation checked against another person: %v, want ErrWrongSigner", err)
	}
	if _, err := Revoke(f.mallory, c, t0); !errors.Is(err, ErrNotCertified) {
		t.Fatalf("Mallory revoking Alice's device: %v, want ErrNotCertified", err)
	}
	bad := []struct {
		name string
		msg  *rendezvousv1.DeviceRevocation
		want error
	}{
		{"names another identity", &rendezvousv1.DeviceRevocation{IdentityKey: f.mallory.Public().Bytes(), DeviceKey: f.phone.Public().Bytes(), DeviceId: []byte("phone001")}, signed.ErrWrongSigner},
		{"short id", &rendezvousv1.DeviceRevocation{IdentityKey: f.alice.Public().Bytes(), DeviceKey: f.phone.Public().Bytes(), DeviceId: []byte("p")}, ErrBadID},
		{"bad device key", &rendezvousv1.DeviceRevocation{IdentityKey: f.alice.Public().Bytes(), DeviceKey: []byte("short"), DeviceId: []byte("phone001")}, identity.ErrMalformedKey},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			env := reseal(t, f.alice, identity.ContextDeviceRevocation, b.msg)
			if _, err := OpenRevocation(env, f.alice.Public()); !errors.Is(err, b.want) {
				t.Fatalf("OpenRevocation = %v, want %v", err, b.want)
			}
		})
	}
	// A certificate is not a revocation.
	if _, err := OpenRevocation(f.phoneCert, f.alice.Public()); err == nil {
		t.Fatal("a certificate opened as a revocation")
	}
}

func TestIssueRefuses(t *testing.T) {
	f := newFixture(t)
	if _, err := Issue(f.alice, f.laptop.Public(), []byte("short"), t0, time.Hour); !errors.Is(err, ErrBadID) {
		t.Fatalf("short id: %v", err)
	}
	if _, err := Issue(f.alice, f.laptop.Public(), []byte("laptop01"), t0, 0); !errors.Is(err, ErrBadValidity) {
		t.Fatalf("zero validity: %v", err)
	}
}

func TestNewer(t *testing.T) {
	a, b := key(t).Public(), key(t).Public()
	if a.Fingerprint() < b.Fingerprint() {
		a, b = b, a // a has the larger fingerprint
	}
	tests := []struct {
		va   uint64
		sa   identity.PublicKey
		vb   uint64
		sb   identity.PublicKey
		want bool
	}{
		{2, b, 1, a, true},  // higher version wins whoever signed
		{1, a, 2, b, false}, // lower loses
		{3, a, 3, b, true},  // same version: larger fingerprint wins
		{3, b, 3, a, false},
		{3, a, 3, a, false}, // the same record is not newer than itself
	}
	for _, tt := range tests {
		if got := Newer(tt.va, tt.sa, tt.vb, tt.sb); got != tt.want {
			t.Errorf("Newer(%d %s, %d %s) = %v, want %v", tt.va, tt.sa.Short(), tt.vb, tt.sb.Short(), got, tt.want)
		}
		// Exactly one of two different records wins, so every node picks the same.
		if tt.va != tt.vb || tt.sa != tt.sb {
			if Newer(tt.va, tt.sa, tt.vb, tt.sb) == Newer(tt.vb, tt.sb, tt.va, tt.sa) {
				t.Errorf("Newer is not antisymmetric for %d/%d", tt.va, tt.vb)
			}
		}
	}
}
