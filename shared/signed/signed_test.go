package signed

import (
	"crypto/rand"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

func key(t testing.TB) *identity.Key {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func registration(k *identity.Key) *rendezvousv1.Registration {
	return &rendezvousv1.Registration{
		PublicKey:        k.Public().Bytes(),
		PublicCandidates: []*rendezvousv1.Candidate{{Address: "192.0.2.1:4000", Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_HOST}},
		TimestampUnixMs:  1700000000000,
		TtlSeconds:       60,
	}
}

func TestSealOpen(t *testing.T) {
	k := key(t)
	env, err := Seal(k, identity.ContextRegistration, registration(k))
	if err != nil {
		t.Fatal(err)
	}
	var got rendezvousv1.Registration
	if err := OpenFrom(env, identity.ContextRegistration, k.Public(), &got); err != nil {
		t.Fatalf("OpenFrom: %v", err)
	}
	if !proto.Equal(&got, registration(k)) {
		t.Fatalf("opened %v, want %v", &got, registration(k))
	}
	if err := CheckKeyField(k.Public(), got.PublicKey); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFromFingerprint(env, identity.ContextRegistration, k.Public().Fingerprint(), &got); err != nil {
		t.Fatalf("OpenFromFingerprint: %v", err)
	}
}

func TestOpenRejects(t *testing.T) {
	k, other := key(t), key(t)
	env, _ := Seal(k, identity.ContextRegistration, registration(k))
	mutate := func(f func(e *signedv1.Envelope)) *signedv1.Envelope {
		c := proto.Clone(env).(*signedv1.Envelope)
		f(c)
		return c
	}
	otherSigned, _ := Seal(other, identity.ContextRegistration, registration(k))
	tests := []struct {
		name string
		env  *signedv1.Envelope
		ctx  identity.Context
		want error
	}{
		{"nil", nil, identity.ContextRegistration, ErrMissing},
		{"payload changed", mutate(func(e *signedv1.Envelope) { e.Payload[len(e.Payload)-1] ^= 1 }), identity.ContextRegistration, identity.ErrBadSignature},
		{"signature changed", mutate(func(e *signedv1.Envelope) { e.Signature[0] ^= 1 }), identity.ContextRegistration, identity.ErrBadSignature},
		{"signer swapped", mutate(func(e *signedv1.Envelope) { e.Signer = other.Public().Bytes() }), identity.ContextRegistration, identity.ErrBadSignature},
		{"signer malformed", mutate(func(e *signedv1.Envelope) { e.Signer = e.Signer[:5] }), identity.ContextRegistration, identity.ErrMalformedKey},
		{"other context", env, identity.ContextPost, identity.ErrBadSignature},
		{"too large", mutate(func(e *signedv1.Envelope) { e.Payload = make([]byte, MaxPayload+1) }), identity.ContextRegistration, ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got rendezvousv1.Registration
			if _, err := Open(tc.env, tc.ctx, &got); !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
			if got.PublicKey != nil {
				t.Fatal("payload parsed although verification failed")
			}
		})
	}
	var got rendezvousv1.Registration
	if err := OpenFrom(otherSigned, identity.ContextRegistration, k.Public(), &got); !errors.Is(err, ErrWrongSigner) {
		t.Errorf("OpenFrom other signer: %v, want ErrWrongSigner", err)
	}
	if _, err := OpenFromFingerprint(otherSigned, identity.ContextRegistration, k.Public().Fingerprint(), &got); !errors.Is(err, ErrWrongSigner) {
		t.Errorf("OpenFromFingerprint other signer: %v, want ErrWrongSigner", err)
	}
	// A record signed by other that names k inside must not pass the key-field check.
	signer, err := Open(otherSigned, identity.ContextRegistration, &got)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckKeyField(signer, got.PublicKey); !errors.Is(err, ErrWrongSigner) {
		t.Errorf("CheckKeyField: %v, want ErrWrongSigner", err)
	}
	garbage := SealBytes(k, identity.ContextRegistration, []byte{0xff, 0xff, 0xff})
	if _, err := Open(garbage, identity.ContextRegistration, &got); !errors.Is(err, ErrMalformedPayload) {
		t.Errorf("garbage payload: %v, want ErrMalformedPayload", err)
	}
}

// FuzzOpen feeds arbitrary wire bytes to the verifier: it must never panic, and whatever
// it accepts must carry a signature that verifies for the signer it reports.
func FuzzOpen(f *testing.F) {
	k := key(f)
	env, _ := Seal(k, identity.ContextRegistration, registration(k))
	good, _ := proto.Marshal(env)
	f.Add(good)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, wire []byte) {
		var e signedv1.Envelope
		if err := proto.Unmarshal(wire, &e); err != nil {
			return
		}
		var reg rendezvousv1.Registration
		signer, err := Open(&e, identity.ContextRegistration, &reg)
		if err != nil {
			return
		}
		if identity.Verify(signer, identity.ContextRegistration, e.Payload, e.Signature) != nil {
			t.Fatal("Open accepted an envelope whose signature does not verify")
		}
	})
}

// TestPayloadBound: a payload of exactly the bound is verified (and, being signed,
// accepted); one byte more is refused before any cryptography, under the default bound
// and under a caller's own.
func TestPayloadBound(t *testing.T) {
	k := key(t)
	envOf := func(n int) *signedv1.Envelope {
		p := make([]byte, n)
		return &signedv1.Envelope{Signer: k.Public().Bytes(), Payload: p, Signature: k.Sign(identity.ContextPost, p)}
	}
	for _, tc := range []struct {
		name  string
		max   int
		n     int
		under bool
	}{
		{"default bound", 0, MaxPayload, true},
		{"default bound + 1", 0, MaxPayload + 1, false},
		{"own bound", 100, 100, true},
		{"own bound + 1", 100, 101, false},
	} {
		signer, err := Verify(envOf(tc.n), identity.ContextPost, tc.max)
		if tc.under && (err != nil || signer != k.Public()) {
			t.Errorf("%s: Verify = %v, %v; want the signer", tc.name, signer, err)
		}
		if !tc.under && !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: Verify = %v, want ErrTooLarge", tc.name, err)
		}
	}
}
