package identity

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func newKey(t *testing.T) *Key {
	t.Helper()
	k, err := Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestIDRoundTrip(t *testing.T) {
	k := newKey(t)
	id := k.ID()
	if len(id) != 56 || strings.ToLower(string(id)) != string(id) {
		t.Fatalf("ID %q: want 56 lowercase characters", id)
	}
	got, err := ParseID(string(id))
	if err != nil {
		t.Fatalf("ParseID(%q): %v", id, err)
	}
	if got != k.Public() {
		t.Fatalf("ParseID(%q) = %x, want %x", id, got, k.Public())
	}
	fp := k.Public().Fingerprint()
	if fp == Fingerprint(id) || len(fp) != 52 {
		t.Fatalf("fingerprint %q: want a 52-char hash distinct from the ID", fp)
	}
	if _, err := ParseFingerprint(string(fp)); err != nil {
		t.Fatalf("ParseFingerprint(%q): %v", fp, err)
	}
	if got, err := id.Fingerprint(); err != nil || got != fp {
		t.Fatalf("ID.Fingerprint() = %q, %v; want %q", got, err, fp)
	}
}

func TestParseIDRejects(t *testing.T) {
	valid := legacy(newKey(t).Public())
	// The last character carries 4 unused bits; 'b' sets one of them unless valid ends in it.
	nonCanonical := valid[:51] + "b"
	if valid[51] == 'b' {
		nonCanonical = valid[:51] + "c"
	}
	tests := []struct {
		name, in, wantMsg string
	}{
		{"empty", "", "empty"},
		{"short", valid[:51], "want 56 characters, got 51"},
		{"long", valid + "a", "want 56 characters, got 53"},
		{"padding", valid[:48] + "====", "padding"},
		{"bad character", "1" + valid[1:], "not in the base32 alphabet"},
		{"inner dot", valid[:10] + "." + valid[11:], "not in the base32 alphabet"},
		{"unicode", "é" + valid[2:], "not in the base32 alphabet"},
		{"non-canonical", nonCanonical, "not canonical"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseID(tc.in)
			if !errors.Is(err, ErrMalformedID) {
				t.Fatalf("ParseID(%q) = %v, want ErrMalformedID", tc.in, err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("ParseID(%q) error %q, want it to mention %q", tc.in, err, tc.wantMsg)
			}
		})
	}
}

func TestSignVerify(t *testing.T) {
	k, other := newKey(t), newKey(t)
	payload := []byte("hello")
	sig := k.Sign(ContextPost, payload)
	if err := Verify(k.Public(), ContextPost, payload, sig); err != nil {
		t.Fatalf("valid signature: %v", err)
	}
	bad := []struct {
		name    string
		pub     PublicKey
		ctx     Context
		payload []byte
		sig     []byte
	}{
		{"other key", other.Public(), ContextPost, payload, sig},
		{"other context", k.Public(), ContextRegistration, payload, sig},
		{"other payload", k.Public(), ContextPost, []byte("hellO"), sig},
		{"short signature", k.Public(), ContextPost, payload, sig[:63]},
		{"flipped bit", k.Public(), ContextPost, payload, flip(sig)},
	}
	for _, tc := range bad {
		if err := Verify(tc.pub, tc.ctx, tc.payload, tc.sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: Verify = %v, want ErrBadSignature", tc.name, err)
		}
	}
}

func flip(b []byte) []byte {
	c := bytes.Clone(b)
	c[0] ^= 1
	return c
}

// A context that is a prefix of another would let (ctx1 || p1) equal (ctx2 || p2).
func TestContextsPrefixFree(t *testing.T) {
	for i, a := range Contexts {
		for j, b := range Contexts {
			if i != j && strings.HasPrefix(string(b), string(a)) {
				t.Errorf("context %q is a prefix of %q", a, b)
			}
		}
	}
}

func TestFromSeed(t *testing.T) {
	k := newKey(t)
	k2, err := FromSeed(k.Seed())
	if err != nil || k2.Public() != k.Public() {
		t.Fatalf("FromSeed: %v, key %s want %s", err, k2.ID(), k.ID())
	}
	if _, err := FromSeed([]byte("short")); err == nil {
		t.Fatal("FromSeed(short) succeeded")
	}
}

func TestPublicKeyFromBytes(t *testing.T) {
	k := newKey(t).Public()
	got, err := PublicKeyFromBytes(k.Bytes())
	if err != nil || got != k {
		t.Fatalf("PublicKeyFromBytes(32 bytes) = %v, %v; want the key", got, err)
	}
	for _, n := range []int{0, 31, 33, 64} {
		if _, err := PublicKeyFromBytes(make([]byte, n)); !errors.Is(err, ErrMalformedKey) {
			t.Errorf("PublicKeyFromBytes(%d bytes) = %v, want ErrMalformedKey", n, err)
		}
	}
	b := k.Bytes()
	b[0] ^= 1
	if k[0] == b[0] {
		t.Error("Bytes returned the key's own array, not a copy")
	}
}

func TestParseFingerprintRejects(t *testing.T) {
	fp := string(newKey(t).Public().Fingerprint())
	for _, bad := range []string{"", fp[:51], fp + "a", strings.ToUpper(fp), "8" + fp[1:]} {
		if _, err := ParseFingerprint(bad); !errors.Is(err, ErrMalformedFingerprint) {
			t.Errorf("ParseFingerprint(%q) = %v, want ErrMalformedFingerprint", bad, err)
		}
	}
	if _, err := ID("not an id").Fingerprint(); !errors.Is(err, ErrMalformedID) {
		t.Errorf("ID.Fingerprint of a bad ID = %v, want ErrMalformedID", err)
	}
}

// A pasted file as an ID gives a short error: the input is clipped at 64 characters.
func TestErrorsClipLongInput(t *testing.T) {
	for _, tc := range []struct {
		n       int
		clipped bool
	}{{64, false}, {65, true}, {5000, true}} {
		in := strings.Repeat("a", tc.n)
		_, err := ParseID(in)
		if err == nil {
			t.Fatalf("ParseID of %d characters accepted", tc.n)
		}
		msg := err.Error()
		if tc.clipped != strings.Contains(msg, strings.Repeat("a", 64)+`..."`) || strings.Contains(msg, strings.Repeat("a", 65)) {
			t.Errorf("ParseID of %d characters: error %.120q; clipped at 64: %v", tc.n, msg, tc.clipped)
		}
	}
}

// Payloads longer than any context sign and verify (the message is context || payload).
func TestSignLongPayload(t *testing.T) {
	k := newKey(t)
	payload := bytes.Repeat([]byte("long payload "), 100)
	sig := k.Sign(ContextRegistration, payload)
	if err := Verify(k.Public(), ContextRegistration, payload, sig); err != nil {
		t.Fatalf("a long payload: %v", err)
	}
	if err := Verify(k.Public(), ContextRegistration, payload[:len(payload)-1], sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a truncated long payload: %v, want ErrBadSignature", err)
	}
}

// TestBase32AlphabetEdges: a-z and 2-7 are in, their neighbours are out.
func TestBase32AlphabetEdges(t *testing.T) {
	for _, r := range "az27" {
		if notBase32(r) {
			t.Errorf("%q refused", r)
		}
	}
	for _, r := range "`{18AZ=" {
		if !notBase32(r) {
			t.Errorf("%q accepted", r)
		}
	}
}
