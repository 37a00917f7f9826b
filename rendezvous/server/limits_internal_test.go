package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/rendezvous/store"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

func sealT(t *testing.T, k *identity.Key, ctx identity.Context, msg proto.Message) *signedv1.Envelope {
	t.Helper()
	env, err := signed.Seal(k, ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func keyT(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func cands(addrs ...string) []*rendezvousv1.Candidate {
	var out []*rendezvousv1.Candidate
	for _, a := range addrs {
		out = append(out, &rendezvousv1.Candidate{Address: a})
	}
	return out
}

// TestLimitsAtTheirBounds: every limit of a signed request holds exactly at its bound
// and refuses one step past it, with the error that names it.
func TestLimitsAtTheirBounds(t *testing.T) {
	k := keyT(t)
	now := time.UnixMilli(1_800_000_000_000)
	l := DefaultLimits
	reg := func(ts time.Time, ttl uint32, cs ...string) error {
		_, _, _, err := l.Registration(sealT(t, k, identity.ContextRegistration, &rendezvousv1.Registration{
			PublicKey: k.Public().Bytes(), TimestampUnixMs: ts.UnixMilli(), TtlSeconds: ttl, PublicCandidates: cands(cs...),
			Version: rendezvousv1.RecordVersion_RECORD_VERSION_2, Server: l.Server}), now)
		return err
	}
	max := make([]string, l.MaxCandidates+1)
	for i := range max {
		max[i] = fmt.Sprintf("192.0.2.1:%d", 1000+i)
	}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"exactly the clock window behind", reg(now.Add(-l.ClockWindow), 60), nil},
		{"exactly the clock window ahead", reg(now.Add(l.ClockWindow), 60), nil},
		{"a millisecond past the window behind", reg(now.Add(-l.ClockWindow-time.Millisecond), 60), ErrStaleTimestamp},
		{"a millisecond past the window ahead", reg(now.Add(l.ClockWindow+time.Millisecond), 60), ErrStaleTimestamp},
		{"exactly MaxCandidates", reg(now, 60, max[:l.MaxCandidates]...), nil},
		{"one candidate too many", reg(now, 60, max...), ErrTooManyCandidates},
		{"a zoned address", reg(now, 60, "[fe80::1%eth0]:4000"), ErrBadCandidate},
		{"port zero", reg(now, 60, "192.0.2.1:0"), ErrBadCandidate},
		{"a bad second candidate", reg(now, 60, "192.0.2.1:1", "x"), ErrBadCandidate},
		{"IPv6 with a port", reg(now, 60, "[2001:db8::1]:65535"), nil},
	} {
		if !errors.Is(tc.err, tc.want) || (tc.want == nil && tc.err != nil) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	for _, tc := range []struct {
		secs uint32
		want time.Duration
	}{{0, l.MinTTL}, {29, l.MinTTL}, {30, 30 * time.Second}, {31, 31 * time.Second}, {599, 599 * time.Second}, {600, l.MaxTTL}, {601, l.MaxTTL}, {1 << 31, l.MaxTTL}} {
		_, _, ttl, err := l.Registration(sealT(t, k, identity.ContextRegistration, &rendezvousv1.Registration{
			PublicKey: k.Public().Bytes(), TimestampUnixMs: now.UnixMilli(), TtlSeconds: tc.secs,
			Version: rendezvousv1.RecordVersion_RECORD_VERSION_2, Server: l.Server}), now)
		if err != nil || ttl != tc.want {
			t.Errorf("ttl_seconds %d: stored for %v (%v), want %v", tc.secs, ttl, err, tc.want)
		}
	}
}

// TestAuthAndOfferChecks: a proof needs a 16-byte nonce and a fresh timestamp; an offer
// also needs the request's target and a known kind.
func TestAuthAndOfferChecks(t *testing.T) {
	k, target := keyT(t), keyT(t).Public().Fingerprint()
	now := time.UnixMilli(1_800_000_000_000)
	l := DefaultLimits
	auth := func(ts time.Time, nonce int) error {
		_, signer, err := l.Auth(sealT(t, k, identity.ContextListen, &rendezvousv1.Auth{
			PublicKey: k.Public().Bytes(), TimestampUnixMs: ts.UnixMilli(), Nonce: make([]byte, nonce)}), identity.ContextListen, now)
		if err == nil && signer != k.Public() {
			return fmt.Errorf("signer %s, want %s", signer.Short(), k.Public().Short())
		}
		return err
	}
	offer := func(to identity.Fingerprint, ts time.Time, nonce, sealed int, v rendezvousv1.RecordVersion) error {
		_, err := l.Offer(&rendezvousv1.SealedOffer{Version: v, TargetFingerprint: string(target),
			TimestampUnixMs: ts.UnixMilli(), Nonce: make([]byte, nonce), Sealed: make([]byte, sealed)}, to, now)
		return err
	}
	v2 := rendezvousv1.RecordVersion_RECORD_VERSION_2
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"auth", auth(now, 16), nil},
		{"auth with a 15-byte nonce", auth(now, 15), ErrBadNonce},
		{"auth with a 17-byte nonce", auth(now, 17), ErrBadNonce},
		{"stale auth", auth(now.Add(-l.ClockWindow-time.Second), 16), ErrStaleTimestamp},
		{"auth under another context", func() error {
			_, _, err := l.Auth(sealT(t, k, identity.ContextUnregister, &rendezvousv1.Auth{PublicKey: k.Public().Bytes(), TimestampUnixMs: now.UnixMilli(), Nonce: make([]byte, 16)}), identity.ContextListen, now)
			return err
		}(), identity.ErrBadSignature},
		{"offer", offer(target, now, 16, 100, v2), nil},
		{"offer of exactly MaxPayload sealed bytes", offer(target, now, 16, l.MaxPayload, v2), nil},
		{"offer one sealed byte too large", offer(target, now, 16, l.MaxPayload+1, v2), signed.ErrTooLarge},
		{"offer with nothing sealed", offer(target, now, 16, 0, v2), signed.ErrTooLarge},
		{"offer for another target", offer(identity.Fingerprint(strings.Repeat("a", 52)), now, 16, 100, v2), ErrTargetMismatch},
		{"stale offer", offer(target, now.Add(l.ClockWindow+time.Second), 16, 100, v2), ErrStaleTimestamp},
		{"offer with a short nonce", offer(target, now, 8, 100, v2), ErrBadNonce},
		{"offer of no version", offer(target, now, 16, 100, rendezvousv1.RecordVersion(0)), ErrBadVersion},
	} {
		if !errors.Is(tc.err, tc.want) || (tc.want == nil && tc.err != nil) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}

// TestClip: echoed input is cut at 64 bytes.
func TestClip(t *testing.T) {
	s64 := strings.Repeat("x", 64)
	if clip(s64) != s64 || clip(s64+"y") != s64+"..." {
		t.Errorf("clip(64) = %q, clip(65) = %q", clip(s64), clip(s64+"y"))
	}
}

// TestStatusTable: each known error crosses the wire with its own code and reason,
// wrapped or not; an unknown error is the store failing (Unavailable); a status passes
// through; nil is OK.
func TestStatusTable(t *testing.T) {
	for _, k := range kinds {
		s, reason := Status(fmt.Errorf("op: %w", k.err))
		if s.Code() != k.code || reason != k.reason || !strings.Contains(s.Message(), k.err.Error()) {
			t.Errorf("Status(%v) = %v %q, %q; want %v, %q", k.err, s.Code(), s.Message(), reason, k.code, k.reason)
		}
	}
	if s, reason := Status(errors.New("connection refused")); s.Code() != codes.Unavailable || reason != "store_unavailable" {
		t.Errorf("unknown error: %v, %q", s.Code(), reason)
	}
	if s, reason := Status(status.Error(codes.PermissionDenied, "as is")); s.Code() != codes.PermissionDenied || s.Message() != "as is" || reason != "" {
		t.Errorf("a status: %v %q, %q", s.Code(), s.Message(), reason)
	}
	if s, reason := Status(nil); s.Code() != codes.OK || reason != "" {
		t.Errorf("nil: %v, %q", s.Code(), reason)
	}
	if s, _ := Status(store.ErrNotNewer); s.Code() != codes.AlreadyExists {
		t.Errorf("a replayed registration: %v, want AlreadyExists", s.Code())
	}
	if s, _ := Status(context.Canceled); s.Code() != codes.Canceled {
		t.Errorf("canceled: %v", s.Code())
	}
}
