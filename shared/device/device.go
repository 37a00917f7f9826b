// Package device lets one person act through several keys: the identity key certifies
// device keys, withdraws them, and this package decides whether something a key signed
// at a given time stands for the person (docs/DESIGN.md "Devices: one person, several
// keys"). It is pure: no clocks, no storage.
package device

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// Errors a caller may test for with errors.Is.
var (
	// ErrNotCertified means a key signed for a person without a certificate from that
	// person's identity (or with one for another key or device).
	ErrNotCertified = errors.New("the signing key is not a device certified by this person")
	// ErrNotValidYet and ErrExpired mean the signature's time lies outside the
	// certificate's validity.
	ErrNotValidYet = errors.New("device certificate is not valid yet at the signature's time")
	ErrExpired     = errors.New("device certificate had expired at the signature's time")
	// ErrRevoked means the person revoked the device before the signature's time.
	ErrRevoked = errors.New("device was revoked by its person before it signed this")
	// ErrBadID means a device id is not IDLen bytes.
	ErrBadID = errors.New("device id must be 8 bytes")
	// ErrBadValidity means a certificate's validity window is empty or inverted.
	ErrBadValidity = errors.New("device certificate validity is empty")
)

// IDLen is the length of a device id.
const IDLen = 8

// MaxRecord bounds a certificate's or revocation's payload (they are about 120 bytes).
const MaxRecord = 512

// Certificate is an opened, verified DeviceCertificate.
type Certificate struct {
	// Identity is the person's key, which signed the certificate.
	Identity identity.PublicKey
	// Key is the device key it certifies.
	Key identity.PublicKey
	// ID is the device's id (IDLen bytes).
	ID []byte
	// NotBefore and NotAfter bound what the device may sign for the person.
	NotBefore, NotAfter time.Time
}

// Issue signs a certificate by id for the device key dev, named devID, valid from
// notBefore for validity.
func Issue(id *identity.Key, dev identity.PublicKey, devID []byte, notBefore time.Time, validity time.Duration) (*signedv1.Envelope, error) {
	if len(devID) != IDLen {
		return nil, fmt.Errorf("issue device certificate: %w", ErrBadID)
	}
	if validity <= 0 {
		return nil, fmt.Errorf("issue device certificate: %w", ErrBadValidity)
	}
	return signed.Seal(id, identity.ContextDeviceCertificate, &rendezvousv1.DeviceCertificate{
		IdentityKey: id.Public().Bytes(), DeviceKey: dev.Bytes(), DeviceId: devID,
		NotBeforeUnixMs: notBefore.UnixMilli(), NotAfterUnixMs: notBefore.Add(validity).UnixMilli(),
	})
}

// Open verifies a certificate envelope signed by person and returns it. It does not
// look at time: Check does, against the time of what the device signed.
func Open(env *signedv1.Envelope, person identity.PublicKey) (Certificate, error) {
	var c rendezvousv1.DeviceCertificate
	signer, err := signed.OpenWithin(env, identity.ContextDeviceCertificate, MaxRecord, &c)
	if err != nil {
		return Certificate{}, fmt.Errorf("device certificate: %w", err)
	}
	if signer != person {
		return Certificate{}, fmt.Errorf("device certificate signed by %s, not %s: %w", signer.Short(), person.Short(), ErrNotCertified)
	}
	if err := signed.CheckKeyField(signer, c.GetIdentityKey()); err != nil {
		return Certificate{}, fmt.Errorf("device certificate: %w", err)
	}
	key, err := identity.PublicKeyFromBytes(c.GetDeviceKey())
	if err != nil {
		return Certificate{}, fmt.Errorf("device certificate: device key: %w", err)
	}
	if len(c.GetDeviceId()) != IDLen {
		return Certificate{}, fmt.Errorf("device certificate: %w", ErrBadID)
	}
	if c.GetNotAfterUnixMs() <= c.GetNotBeforeUnixMs() {
		return Certificate{}, fmt.Errorf("device certificate: %w", ErrBadValidity)
	}
	return Certificate{
		Identity: signer, Key: key, ID: c.GetDeviceId(),
		NotBefore: time.UnixMilli(c.GetNotBeforeUnixMs()), NotAfter: time.UnixMilli(c.GetNotAfterUnixMs()),
	}, nil
}

// Revocation is an opened, verified DeviceRevocation.
type Revocation struct {
	// Identity is the person's key, which signed the revocation.
	Identity identity.PublicKey
	// Key and ID name the revoked device.
	Key identity.PublicKey
	ID  []byte
	// At is when it took effect: the device's signatures from then on stand for nothing.
	At time.Time
}

// Revoke signs, with the identity key id, the revocation of the certified device c at at.
func Revoke(id *identity.Key, c Certificate, at time.Time) (*signedv1.Envelope, error) {
	if c.Identity != id.Public() {
		return nil, fmt.Errorf("revoke device: %w", ErrNotCertified)
	}
	return signed.Seal(id, identity.ContextDeviceRevocation, &rendezvousv1.DeviceRevocation{
		IdentityKey: id.Public().Bytes(), DeviceKey: c.Key.Bytes(), DeviceId: c.ID, RevokedUnixMs: at.UnixMilli(),
	})
}

// OpenRevocation verifies a revocation envelope signed by person and returns it.
func OpenRevocation(env *signedv1.Envelope, person identity.PublicKey) (Revocation, error) {
	var r rendezvousv1.DeviceRevocation
	signer, err := signed.OpenWithin(env, identity.ContextDeviceRevocation, MaxRecord, &r)
	if err != nil {
		return Revocation{}, fmt.Errorf("device revocation: %w", err)
	}
	if signer != person {
		return Revocation{}, fmt.Errorf("device revocation signed by %s, not %s: %w", signer.Short(), person.Short(), signed.ErrWrongSigner)
	}
	if err := signed.CheckKeyField(signer, r.GetIdentityKey()); err != nil {
		return Revocation{}, fmt.Errorf("device revocation: %w", err)
	}
	key, err := identity.PublicKeyFromBytes(r.GetDeviceKey())
	if err != nil {
		return Revocation{}, fmt.Errorf("device revocation: device key: %w", err)
	}
	if len(r.GetDeviceId()) != IDLen {
		return Revocation{}, fmt.Errorf("device revocation: %w", ErrBadID)
	}
	return Revocation{Identity: signer, Key: key, ID: r.GetDeviceId(), At: time.UnixMilli(r.GetRevokedUnixMs())}, nil
}

// Check decides whether something signer signed at signedAt stands for person. The
// identity key always does. Any other key needs cert, a certificate from person for
// exactly that key, valid at signedAt, and no revocation of the key (or of the
// certificate's device id) in revoked taking effect at or before signedAt. revoked must
// hold only revocations already verified as person's (OpenRevocation).
func Check(person, signer identity.PublicKey, cert *signedv1.Envelope, revoked []Revocation, signedAt time.Time) (Certificate, error) {
	if signer == person {
		return Certificate{Identity: person, Key: person}, nil
	}
	if cert == nil {
		return Certificate{}, fmt.Errorf("key %s for %s: %w", signer.Short(), person.Short(), ErrNotCertified)
	}
	c, err := Open(cert, person)
	if err != nil {
		return Certificate{}, err
	}
	if c.Key != signer {
		return Certificate{}, fmt.Errorf("certificate is for %s, signed by %s: %w", c.Key.Short(), signer.Short(), ErrNotCertified)
	}
	if signedAt.Before(c.NotBefore) {
		return c, fmt.Errorf("device %x of %s: %w", c.ID, person.Short(), ErrNotValidYet)
	}
	if !signedAt.Before(c.NotAfter) {
		return c, fmt.Errorf("device %x of %s: %w", c.ID, person.Short(), ErrExpired)
	}
	for _, r := range revoked {
		if r.Identity != person || (r.Key != c.Key && !bytes.Equal(r.ID, c.ID)) {
			continue
		}
		if !signedAt.Before(r.At) {
			return c, fmt.Errorf("device %x of %s (revoked %s): %w", c.ID, person.Short(), r.At.UTC().Format(time.RFC3339), ErrRevoked)
		}
	}
	return c, nil
}

// Newer reports whether version va signed by sa supersedes version vb signed by sb:
// the higher version wins, and between two devices that wrote the same version while
// apart, the one whose key has the larger fingerprint. Every node orders the same
// pair the same way, so edits from two devices converge.
func Newer(va uint64, sa identity.PublicKey, vb uint64, sb identity.PublicKey) bool {
	if va > vb {
		return true
	}
	if va < vb {
		return false
	}
	return sa.Fingerprint() > sb.Fingerprint()
}
