package server

import (
	"fmt"
	"net/netip"
	"time"

	"google.golang.org/protobuf/proto"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// Limits are the bounds validation applies; Config fills them.
type Limits struct {
	// ClockWindow is how far a signed timestamp may lie from server time, either way.
	ClockWindow time.Duration
	// MinTTL and MaxTTL clamp a registration's TTL.
	MinTTL, MaxTTL time.Duration
	// MaxCandidates bounds the candidates of a registration or offer.
	MaxCandidates int
	// MaxPayload bounds a signed payload in bytes, and a sealed offer.
	MaxPayload int
	// Server is the name signed registrations and auth proofs must carry (Config.Name).
	Server string
}

// nonceLen is the length of Auth and Offer nonces.
const nonceLen = 16

// keyed is a payload that names its signer's key.
type keyed interface {
	proto.Message
	GetPublicKey() []byte
}

// open verifies env under ctx with the payload bound, parses it into msg and checks
// that the payload's key field names the signer.
func (l Limits) open(env *signedv1.Envelope, ctx identity.Context, msg keyed) (identity.PublicKey, error) {
	signer, err := signed.Verify(env, ctx, l.MaxPayload)
	if err != nil {
		return signer, err
	}
	if err := proto.Unmarshal(env.GetPayload(), msg); err != nil {
		return signer, fmt.Errorf("%w (%s): %v", signed.ErrMalformedPayload, ctx, err)
	}
	if err := signed.CheckKeyField(signer, msg.GetPublicKey()); err != nil {
		return signer, err
	}
	return signer, nil
}

// fresh checks a signed timestamp against now.
func (l Limits) fresh(tsMs int64, now time.Time) error {
	skew := now.Sub(time.UnixMilli(tsMs))
	if skew > l.ClockWindow || skew < -l.ClockWindow {
		return fmt.Errorf("%w: %s away from server time, allowed ±%s", ErrStaleTimestamp,
			skew.Round(time.Millisecond), l.ClockWindow)
	}
	return nil
}

// candidates checks count and syntax of candidate addresses.
func (l Limits) candidates(cs []*rendezvousv1.Candidate) error {
	if len(cs) > l.MaxCandidates {
		return fmt.Errorf("%w: %d, at most %d", ErrTooManyCandidates, len(cs), l.MaxCandidates)
	}
	for i, c := range cs {
		ap, err := netip.ParseAddrPort(c.GetAddress())
		if err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" {
			return fmt.Errorf("%w: candidate %d is %q", ErrBadCandidate, i, clip(c.GetAddress()))
		}
	}
	return nil
}

// Registration verifies a signed registration at time now and returns its payload, its
// signer and the TTL to store it with.
func (l Limits) Registration(env *signedv1.Envelope, now time.Time) (*rendezvousv1.Registration, identity.PublicKey, time.Duration, error) {
	reg := &rendezvousv1.Registration{}
	signer, err := l.open(env, identity.ContextRegistration, reg)
	if err != nil {
		return nil, signer, 0, err
	}
	if err := l.fresh(reg.GetTimestampUnixMs(), now); err != nil {
		return nil, signer, 0, err
	}
	if err := l.version(reg.GetVersion()); err != nil {
		return nil, signer, 0, err
	}
	if err := l.server(reg.GetServer()); err != nil {
		return nil, signer, 0, err
	}
	if err := l.candidates(reg.GetPublicCandidates()); err != nil {
		return nil, signer, 0, err
	}
	ttl := min(max(time.Duration(reg.GetTtlSeconds())*time.Second, l.MinTTL), l.MaxTTL)
	return reg, signer, ttl, nil
}

// Auth verifies a signed Auth under ctx at time now.
func (l Limits) Auth(env *signedv1.Envelope, ctx identity.Context, now time.Time) (*rendezvousv1.Auth, identity.PublicKey, error) {
	a := &rendezvousv1.Auth{}
	signer, err := l.open(env, ctx, a)
	if err != nil {
		return nil, signer, err
	}
	if err := l.fresh(a.GetTimestampUnixMs(), now); err != nil {
		return nil, signer, err
	}
	if len(a.GetNonce()) != nonceLen {
		return nil, signer, fmt.Errorf("%w, got %d", ErrBadNonce, len(a.GetNonce()))
	}
	if err := l.server(a.GetServer()); err != nil {
		return nil, signer, err
	}
	return a, signer, nil
}

// version checks a record's version.
func (l Limits) version(v rendezvousv1.RecordVersion) error {
	if v != rendezvousv1.RecordVersion_RECORD_VERSION_2 {
		return fmt.Errorf("%w: %d, this server speaks %d", ErrBadVersion, v, rendezvousv1.RecordVersion_RECORD_VERSION_2)
	}
	return nil
}

// server checks that a signed proof names this server.
func (l Limits) server(name string) error {
	if name != l.Server {
		return fmt.Errorf("%w: it names %q, this server is %q (ask ServerInfo)", ErrWrongServer, clip(name), l.Server)
	}
	return nil
}

// Offer checks a sealed offer's frame for target at time now: the rendezvous can read
// nothing else of it (the caller, its candidates and the punch secret are sealed).
func (l Limits) Offer(o *rendezvousv1.SealedOffer, target identity.Fingerprint, now time.Time) (*rendezvousv1.SealedOffer, error) {
	if o == nil {
		return nil, signed.ErrMissing
	}
	if err := l.version(o.GetVersion()); err != nil {
		return nil, err
	}
	if o.GetTargetFingerprint() != string(target) {
		return nil, fmt.Errorf("%w: offer names %q, request %q", ErrTargetMismatch, clip(o.GetTargetFingerprint()), target)
	}
	if err := l.fresh(o.GetTimestampUnixMs(), now); err != nil {
		return nil, err
	}
	if len(o.GetNonce()) != nonceLen {
		return nil, fmt.Errorf("%w, got %d", ErrBadNonce, len(o.GetNonce()))
	}
	if n := len(o.GetSealed()); n == 0 || n > l.MaxPayload {
		return nil, fmt.Errorf("%w: sealed offer of %d bytes, want 1 to %d", signed.ErrTooLarge, n, l.MaxPayload)
	}
	return o, nil
}

// clip keeps echoed input short in error messages.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
