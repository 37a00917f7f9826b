package device

import (
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/identity"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func person(t *testing.T) identity.PublicKey {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.Public()
}

func TestCodeRoundTrip(t *testing.T) {
	p := person(t)
	c, err := NewCode(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Fingerprint() != p.Fingerprint() {
		t.Fatalf("code names %s, want %s", c.Fingerprint(), p.Fingerprint())
	}
	s := c.String()
	pasted := []string{s, "  " + strings.ToUpper(s) + "\n", s[:20] + " " + s[20:40] + "-" + s[40:]}
	for _, in := range pasted {
		got, err := ParseCode(in)
		if err != nil || got != c {
			t.Fatalf("ParseCode(%q) = %v, %v; want the code back", in, got, err)
		}
	}
	bad := []string{"", "join-", s[:len(s)-1], s + "a", strings.TrimPrefix(s, "join-"), "join-" + strings.Repeat("a", 79), s[:len(s)-2] + "1!"}
	for _, in := range bad {
		if _, err := ParseCode(in); !errors.Is(err, ErrMalformedCode) {
			t.Errorf("ParseCode(%q) = %v, want ErrMalformedCode", in, err)
		}
	}
	c2, _ := NewCode(p)
	if c2.Secret == c.Secret {
		t.Fatal("two codes share a secret")
	}
}

func FuzzParseCode(f *testing.F) {
	f.Add("join-aaaa")
	f.Add("join-" + strings.Repeat("b", 79))
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCode(s)
		if err != nil {
			return
		}
		if again, err := ParseCode(c.String()); err != nil || again != c {
			t.Fatalf("a parsed code does not round-trip: %q", s)
		}
	})
}

func TestInvites(t *testing.T) {
	p := person(t)
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	iv := NewInvites(clk.Now)

	c, done, err := iv.Add(p, "desktop")
	if err != nil {
		t.Fatal(err)
	}
	var wrong [SecretLen]byte
	copy(wrong[:], c.Secret[:])
	wrong[0] ^= 1
	if _, err := iv.Redeem(wrong); !errors.Is(err, ErrUnknownCode) {
		t.Fatalf("wrong secret: %v, want ErrUnknownCode", err)
	}
	clk.Add(CodeTTL - time.Millisecond)
	name, err := iv.Redeem(c.Secret)
	if err != nil || name != "desktop" {
		t.Fatalf("redeem just in time = %q, %v; want desktop", name, err)
	}
	select {
	case <-done:
	default:
		t.Fatal("redeeming did not tell the waiting `kith device add`")
	}
	if _, err := iv.Redeem(c.Secret); !errors.Is(err, ErrUsedCode) {
		t.Fatalf("reused code: %v, want ErrUsedCode", err)
	}

	late, _, err := iv.Add(p, "pi")
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(CodeTTL)
	if _, err := iv.Redeem(late.Secret); !errors.Is(err, ErrExpiredCode) {
		t.Fatalf("expired code: %v, want ErrExpiredCode", err)
	}
	clk.Add(CodeTTL)
	if _, err := iv.Redeem(late.Secret); !errors.Is(err, ErrExpiredCode) {
		t.Fatalf("code expired %s ago: %v, want ErrExpiredCode (still remembered)", CodeTTL, err)
	}
	clk.Add(time.Millisecond)
	if _, err := iv.Redeem(late.Secret); !errors.Is(err, ErrUnknownCode) {
		t.Fatalf("long-expired code: %v, want ErrUnknownCode (forgotten)", err)
	}

	cancelled, _, err := iv.Add(p, "phone")
	if err != nil {
		t.Fatal(err)
	}
	iv.Cancel(cancelled.Secret)
	if _, err := iv.Redeem(cancelled.Secret); !errors.Is(err, ErrExpiredCode) {
		t.Fatalf("cancelled code: %v, want ErrExpiredCode", err)
	}
	if _, _, err := iv.Add(p, "a/b"); !errors.Is(err, ErrBadName) {
		t.Fatalf("bad name: %v", err)
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"laptop", "Alice's Pi", "büro", strings.Repeat("x", 64)} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/b", "tab\there", strings.Repeat("x", 65), "\xff"} {
		if err := CheckName(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("CheckName(%q) = %v, want ErrBadName", bad, err)
		}
	}
}

// TestOfferProof: a stranger's offer is answered for a join only when its punch secret
// is the proof of a code still pending: not a random one, not a used or expired code's.
func TestOfferProof(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	iv := NewInvites(func() time.Time { return now })
	p := person(t)
	c, _, err := iv.Add(p, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := iv.Add(p, "phone")
	if err != nil {
		t.Fatal(err)
	}
	var random [SecretLen]byte
	random[0] = 1
	tests := []struct {
		name  string
		proof []byte
		want  bool
	}{
		{"the pending code's proof", JoinProof(c.Secret), true},
		{"another pending code's proof", JoinProof(other.Secret), true},
		{"a proof of no code", JoinProof(random), false},
		{"the secret itself", c.Secret[:], false},
		{"nothing", nil, false},
	}
	for _, tt := range tests {
		if got := iv.OfferProof(tt.proof); got != tt.want {
			t.Errorf("%s: OfferProof = %v, want %v", tt.name, got, tt.want)
		}
	}
	if _, err := iv.Redeem(c.Secret); err != nil {
		t.Fatal(err)
	}
	if iv.OfferProof(JoinProof(c.Secret)) {
		t.Error("a used code's proof still answered")
	}
	now = now.Add(CodeTTL)
	if iv.OfferProof(JoinProof(other.Secret)) {
		t.Error("an expired code's proof still answered")
	}
}

// TestAddValid: a code asked to stay valid for d redeems until just before d and is
// expired from d on (and its offer proof with it); d must be more than zero and at
// most CodeTTL, and a refused d hands out no code.
func TestAddValid(t *testing.T) {
	p := person(t)
	for _, tt := range []struct {
		valid time.Duration
		ok    bool
	}{
		{-time.Second, false}, {0, false}, {time.Nanosecond, true}, {2 * time.Second, true},
		{CodeTTL, true}, {CodeTTL + time.Nanosecond, false}, {time.Hour, false},
	} {
		if err := CheckValid(tt.valid); (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrValidity)) {
			t.Errorf("CheckValid(%v) = %v, want ok %v", tt.valid, err, tt.ok)
		}
		iv := NewInvites(nil)
		_, _, err := iv.AddValid(p, "a2", tt.valid)
		if (err == nil) != tt.ok {
			t.Errorf("AddValid(%v) = %v, want ok %v", tt.valid, err, tt.ok)
		}
		if !tt.ok && len(iv.pending) != 0 {
			t.Errorf("AddValid(%v) refused, yet keeps a code", tt.valid)
		}
	}
	if _, _, err := NewInvites(nil).AddValid(p, "", time.Second); !errors.Is(err, ErrBadName) {
		t.Errorf("AddValid with no name: %v, want ErrBadName", err)
	}

	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	iv := NewInvites(clk.Now)
	short, _, err := iv.AddValid(p, "a2", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	soon, _, err := iv.AddValid(p, "a3", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(2*time.Second - time.Millisecond)
	if name, err := iv.Redeem(soon.Secret); err != nil || name != "a3" {
		t.Fatalf("redeem a 2 s code after 1.999 s = %q, %v", name, err)
	}
	if !iv.OfferProof(JoinProof(short.Secret)) {
		t.Fatal("a 2 s code's offer proof refused after 1.999 s")
	}
	clk.Add(time.Millisecond)
	if iv.OfferProof(JoinProof(short.Secret)) {
		t.Fatal("a 2 s code's offer proof taken after 2 s")
	}
	if _, err := iv.Redeem(short.Secret); !errors.Is(err, ErrExpiredCode) {
		t.Fatalf("redeem a 2 s code after 2 s: %v, want ErrExpiredCode", err)
	}
	// Add is AddValid for CodeTTL.
	long, _, err := iv.Add(p, "a4")
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(CodeTTL - time.Millisecond)
	if !iv.OfferProof(JoinProof(long.Secret)) {
		t.Fatal("Add's code expired before CodeTTL")
	}
	clk.Add(time.Millisecond)
	if iv.OfferProof(JoinProof(long.Secret)) {
		t.Fatal("Add's code outlived CodeTTL")
	}
}
