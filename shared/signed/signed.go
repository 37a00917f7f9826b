// Package signed seals records once and opens them only after verifying the exact bytes
// that were signed: {signer, payload, signature}, never re-marshalled to verify.
package signed

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Errors a caller may test for with errors.Is.
var (
	// ErrMissing means there is no envelope where one is required.
	ErrMissing = errors.New("signed record missing")
	// ErrTooLarge means an envelope's payload is larger than the caller allows.
	ErrTooLarge = errors.New("signed record too large")
	// ErrWrongSigner means a record verifies, but was signed by someone other than expected.
	ErrWrongSigner = errors.New("signed by the wrong key")
	// ErrMalformedPayload means the signed bytes verify but do not parse as the record type.
	ErrMalformedPayload = errors.New("signed payload does not parse")
)

// MaxPayload is the default bound on a payload: larger records are refused unread.
const MaxPayload = 128 << 10

// Seal marshals msg once, deterministically, and signs the bytes under ctx.
func Seal(k *identity.Key, ctx identity.Context, msg proto.Message) (*signedv1.Envelope, error) {
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", ctx, err)
	}
	return SealBytes(k, ctx, payload), nil
}

// SealBytes signs payload under ctx.
func SealBytes(k *identity.Key, ctx identity.Context, payload []byte) *signedv1.Envelope {
	pub := k.Public()
	return &signedv1.Envelope{Signer: pub.Bytes(), Payload: payload, Signature: k.Sign(ctx, payload)}
}

// Verify checks env's signature under ctx and returns its signer. It bounds the payload
// at max bytes (MaxPayload when max is 0) before any cryptography.
func Verify(env *signedv1.Envelope, ctx identity.Context, max int) (identity.PublicKey, error) {
	signer, err := precheck(env, max)
	if err != nil {
		return signer, err
	}
	if err := identity.Verify(signer, ctx, env.GetPayload(), env.GetSignature()); err != nil {
		return signer, err
	}
	return signer, nil
}

// VerifyAll is Verify for many envelopes under one context: the signatures are checked
// in batches on every core (identity.VerifyAll). It returns each envelope's signer and
// error, nil where it verifies.
func VerifyAll(envs []*signedv1.Envelope, ctx identity.Context, max int) ([]identity.PublicKey, []error) {
	signers := make([]identity.PublicKey, len(envs))
	errs := make([]error, len(envs))
	items := make([]identity.Signed, 0, len(envs))
	at := make([]int, 0, len(envs)) // items[j] is envs[at[j]]
	for i, env := range envs {
		if signers[i], errs[i] = precheck(env, max); errs[i] != nil {
			continue
		}
		items = append(items, identity.Signed{Key: signers[i], Context: ctx, Payload: env.GetPayload(), Sig: env.GetSignature()})
		at = append(at, i)
	}
	verrs, _ := identity.VerifyAll(items)
	for j, err := range verrs {
		errs[at[j]] = err
	}
	return signers, errs
}

// precheck is what Verify and VerifyAll check before any cryptography: an envelope is
// there, its payload within max bytes (MaxPayload when max is 0), its signer a key.
func precheck(env *signedv1.Envelope, max int) (identity.PublicKey, error) {
	if env == nil {
		return identity.PublicKey{}, ErrMissing
	}
	if max == 0 {
		max = MaxPayload
	}
	if len(env.GetPayload()) > max {
		return identity.PublicKey{}, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(env.GetPayload()), max)
	}
	signer, err := identity.PublicKeyFromBytes(env.GetSigner())
	if err != nil {
		return signer, fmt.Errorf("signer: %w", err)
	}
	return signer, nil
}

// Open verifies env under ctx and only then unmarshals its payload into msg. It returns
// the signer; callers compare it with whom they expected (or use OpenFrom).
func Open(env *signedv1.Envelope, ctx identity.Context, msg proto.Message) (identity.PublicKey, error) {
	return OpenWithin(env, ctx, 0, msg)
}

// OpenWithin is Open for a record bounded by max (Verify's bound) instead of the
// default: one verification, then the payload.
func OpenWithin(env *signedv1.Envelope, ctx identity.Context, max int, msg proto.Message) (identity.PublicKey, error) {
	signer, err := Verify(env, ctx, max)
	if err != nil {
		return signer, err
	}
	if err := proto.Unmarshal(env.GetPayload(), msg); err != nil {
		return signer, fmt.Errorf("%w (%s): %v", ErrMalformedPayload, ctx, err)
	}
	return signer, nil
}

// OpenFrom is Open for a record that must be signed by want.
func OpenFrom(env *signedv1.Envelope, ctx identity.Context, want identity.PublicKey, msg proto.Message) error {
	if env == nil {
		return ErrMissing
	}
	if got := env.GetSigner(); string(got) != string(want[:]) {
		return fmt.Errorf("%w: want %s", ErrWrongSigner, want.Short())
	}
	_, err := Open(env, ctx, msg)
	return err
}

// OpenFromFingerprint is Open for a record that must be signed by the key whose
// fingerprint is want: how a peer checks what a rendezvous returns for a lookup.
func OpenFromFingerprint(env *signedv1.Envelope, ctx identity.Context, want identity.Fingerprint, msg proto.Message) (identity.PublicKey, error) {
	signer, err := Open(env, ctx, msg)
	if err != nil {
		return signer, err
	}
	if signer.Fingerprint() != want {
		return signer, fmt.Errorf("%w: fingerprint %s, want %s", ErrWrongSigner, signer.Fingerprint(), want)
	}
	return signer, nil
}

// CheckKeyField checks that a payload's own key field names its signer, so a record
// cannot claim one key inside and be signed by another.
func CheckKeyField(signer identity.PublicKey, field []byte) error {
	k, err := identity.PublicKeyFromBytes(field)
	if err != nil {
		return fmt.Errorf("payload key: %w", err)
	}
	if k != signer {
		return fmt.Errorf("%w: payload names %s, signed by %s", ErrWrongSigner, k.Short(), signer.Short())
	}
	return nil
}
