// Package device is the peer's side of one person, several devices: one-time join
// codes and the invitations they redeem (docs/DESIGN.md "Devices: one person, several
// keys"). The certificate chain itself is shared/device.
package device

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kithnet/kith/shared/identity"
)

// Errors a caller may test for with errors.Is.
var (
	// ErrMalformedCode means a string is not a join code at all (mistyped or cut).
	ErrMalformedCode = errors.New("not a join code: copy it again from `kith device add` on your other device")
	// ErrUnknownCode means a well-formed code that the device does not hold.
	ErrUnknownCode = errors.New("join code is not known to this device (wrong code, or another device made it)")
	// ErrExpiredCode means the code was not redeemed while it was valid (10 minutes, or
	// the shorter time `kith device add --valid` asked for).
	ErrExpiredCode = errors.New("join code expired: run `kith device add` again for a new one")
	// ErrUsedCode means the code was redeemed already; a code joins one device once.
	ErrUsedCode = errors.New("join code was used already: run `kith device add` again for a new one")
	// ErrBadName means a device name is empty, too long, or holds control characters or '/'.
	ErrBadName = errors.New("device name must be 1 to 64 printable characters without '/'")
	// ErrValidity means a code was asked to stay valid for no time, or for longer than
	// CodeTTL.
	ErrValidity = errors.New("a join code stays valid for more than 0 and at most 10 minutes")
)

// codePrefix starts every join code, so a person (and an error message) can tell one.
const codePrefix = "join-"

// codeVersion is the layout of the bytes below. Version 2 carries the person's key
// itself (version 1 carried its fingerprint): the new device then checks, in the TLS
// handshake, that the device it reaches holds exactly that identity.
const codeVersion = 2

// SecretLen is the length of a code's secret: 128 bits, beyond guessing in 10 minutes.
const SecretLen = 16

var codeEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Code is what a join code carries: whose device to reach (the person's identity key,
// whose fingerprint a rendezvous indexes) and the one-time secret that device waits for.
type Code struct {
	// Person is the person's identity key.
	Person identity.PublicKey
	// Secret is the one-time secret.
	Secret [SecretLen]byte
}

// NewCode makes a code for person with a fresh secret.
func NewCode(person identity.PublicKey) (Code, error) {
	c := Code{Person: person}
	if _, err := rand.Read(c.Secret[:]); err != nil {
		return c, fmt.Errorf("join code: %w", err)
	}
	return c, nil
}

// Fingerprint is the person's fingerprint as the rendezvous indexes it.
func (c Code) Fingerprint() identity.Fingerprint {
	return c.Person.Fingerprint()
}

// String formats the code: "join-" and lowercase base32 of version, person, secret.
func (c Code) String() string {
	b := append([]byte{codeVersion}, c.Person[:]...)
	return codePrefix + codeEncoding.EncodeToString(append(b, c.Secret[:]...))
}

// ParseCode reads a code as a person may paste it: any case, surrounding spaces,
// spaces or dashes inside.
func ParseCode(s string) (Code, error) {
	var c Code
	s = strings.ToLower(strings.TrimSpace(s))
	if !strings.HasPrefix(s, codePrefix) {
		return c, ErrMalformedCode
	}
	s = strings.NewReplacer(" ", "", "-", "").Replace(s[len(codePrefix):])
	b, err := codeEncoding.DecodeString(s)
	if err != nil || len(b) != 1+32+SecretLen || b[0] != codeVersion {
		return c, ErrMalformedCode
	}
	person, err := identity.PublicKeyFromBytes(b[1:33])
	if err != nil {
		return c, ErrMalformedCode
	}
	c.Person = person
	copy(c.Secret[:], b[33:])
	return c, nil
}

// CheckName checks a device name as a person types it.
func CheckName(name string) error {
	if name == "" || len(name) > 64 || !utf8.ValidString(name) || strings.ContainsRune(name, '/') {
		return ErrBadName
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return ErrBadName
		}
	}
	return nil
}
