// Package identity provides kith's identities: ed25519 key pairs, the self-certifying
// IDs and fingerprints derived from them, and signatures bound to a record type.
package identity

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Errors a caller may test for with errors.Is.
var (
	// ErrMalformedID means a string is not an ID: 56 base32 characters (52 in the first
	// form), in either case, optionally grouped with spaces or dashes.
	ErrMalformedID = errors.New("malformed ID")
	// ErrMalformedFingerprint means a string is not a 52-character lowercase base32 fingerprint.
	ErrMalformedFingerprint = errors.New("malformed fingerprint")
	// ErrMalformedKey means bytes are not a 32-byte ed25519 public key.
	ErrMalformedKey = errors.New("malformed public key: want 32 bytes")
	// ErrBadSignature means a signature does not verify for the key and context it claims.
	ErrBadSignature = errors.New("signature does not verify")
)

// encoding is lowercase base32 (RFC 4648 alphabet) without padding: 32 bytes -> 52 chars.
var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// encodedLen is the length of an encoded ID or fingerprint.
const encodedLen = 52

// PublicKey is a raw ed25519 public key.
type PublicKey [ed25519.PublicKeySize]byte

// ID is a person's identity as text: their public key in lowercase base32 without
// padding (52 characters), with two check characters after each half (56 in all).
type ID string

// Fingerprint is SHA-256 of a public key, encoded as an ID is. The rendezvous indexes it.
type Fingerprint string

// PublicKeyFromBytes checks that b is 32 bytes long and returns it as a PublicKey.
func PublicKeyFromBytes(b []byte) (PublicKey, error) {
	var k PublicKey
	if len(b) != len(k) {
		return k, fmt.Errorf("%w (got %d bytes)", ErrMalformedKey, len(b))
	}
	copy(k[:], b)
	return k, nil
}

// ID returns the key's ID, with its check characters.
func (k PublicKey) ID() ID { return ID(withCheck(encoding.EncodeToString(k[:]))) }

// Fingerprint returns SHA-256 of the key, encoded.
func (k PublicKey) Fingerprint() Fingerprint {
	sum := sha256.Sum256(k[:])
	return Fingerprint(encoding.EncodeToString(sum[:]))
}

// Bytes returns the key as a fresh slice.
func (k PublicKey) Bytes() []byte { return append([]byte(nil), k[:]...) }

// String returns the key's ID.
func (k PublicKey) String() string { return string(k.ID()) }

// Short returns the first 8 characters of the ID, for logs.
func (k PublicKey) Short() string { return string(k.ID()[:8]) }

// ParseID parses an ID as a person may type it: with its check characters or in the
// first, 52-character form; upper or lower case; grouped with spaces or dashes. It says
// precisely what is wrong with a bad one; a mistyped character is ErrIDCheck too.
func ParseID(s string) (PublicKey, error) {
	var k PublicKey
	n := normalize(s)
	if len(n) == IDLen {
		if err := checkAlphabet(n); err != nil {
			return k, fmt.Errorf("%w %q: %v", ErrMalformedID, clip(s), err)
		}
		key, err := stripCheck(n)
		if err != nil {
			return k, fmt.Errorf("%w %q: %w", ErrMalformedID, clip(s), err)
		}
		n = key
	} else if len(n) != LegacyIDLen && n != "" && !strings.HasSuffix(n, "=") {
		return k, fmt.Errorf("%w %q: want %d characters, got %d", ErrMalformedID, clip(s), IDLen, len(n))
	}
	raw, err := decode32(n)
	if err != nil {
		return k, fmt.Errorf("%w %q: %v", ErrMalformedID, clip(s), err)
	}
	copy(k[:], raw)
	return k, nil
}

// checkAlphabet names the first character outside the base32 alphabet.
func checkAlphabet(s string) error {
	if i := strings.IndexFunc(s, notBase32); i >= 0 {
		return fmt.Errorf("character %q at position %d is not in the base32 alphabet a-z2-7", s[i], i)
	}
	return nil
}

func notBase32(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '2' && r <= '7') }

// Fingerprint parses an ID and returns its fingerprint.
func (id ID) Fingerprint() (Fingerprint, error) {
	k, err := ParseID(string(id))
	if err != nil {
		return "", err
	}
	return k.Fingerprint(), nil
}

// ParseFingerprint checks that s is a well-formed fingerprint.
func ParseFingerprint(s string) (Fingerprint, error) {
	if _, err := decode32(s); err != nil {
		return "", fmt.Errorf("%w %q: %v", ErrMalformedFingerprint, clip(s), err)
	}
	return Fingerprint(s), nil
}

// decode32 decodes exactly 32 bytes from canonical lowercase unpadded base32.
func decode32(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	if strings.HasSuffix(s, "=") {
		return nil, errors.New("padding '=' is not allowed")
	}
	if len(s) != encodedLen {
		return nil, fmt.Errorf("want %d characters, got %d", encodedLen, len(s))
	}
	if strings.ToLower(s) != s {
		return nil, errors.New("must be lowercase")
	}
	if err := checkAlphabet(s); err != nil {
		return nil, err
	}
	raw, err := encoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not base32: %v", err)
	}
	// 52 characters carry 260 bits; the last 4 must be zero or two strings name one key.
	if encoding.EncodeToString(raw) != s {
		return nil, errors.New("not canonical: the last character's low bits must be zero")
	}
	return raw, nil
}

// clip keeps error messages short when someone pastes a whole file as an ID.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Context names the record type a signature is for, so a signature made for one kind of
// record never verifies as another. No context is a prefix of another (tested), which
// makes (context || payload) unambiguous.
type Context string

// The record types kith signs.
const (
	// The rendezvous records are v2 (docs/DESIGN.md, "Rendezvous records v2"): proofs
	// name their server, candidates and offers are sealed.
	ContextRegistration    Context = "kith/registration/v2"
	ContextUnregister      Context = "kith/unregister/v2"
	ContextListen          Context = "kith/listen/v2"
	ContextOffer           Context = "kith/offer/v2"
	ContextTurnCredentials Context = "kith/turn-credentials/v2"
	ContextPost            Context = "kith/post/v1"
	ContextRecoveryKit     Context = "kith/recovery-kit/v2" // v2: audiences, groups, version field
	ContextPublicProfile   Context = "kith/public-profile/v1"
	// Conversation records (issue 18): each signed by its own author.
	ContextReply         Context = "kith/reply/v1"
	ContextReaction      Context = "kith/reaction/v1"
	ContextFriendRequest Context = "kith/friend-request/v1"
	// The same records written on a joined device (issue 16): the payload names the
	// person, the device key signs, the envelope carries the device certificate.
	ContextDeviceReply         Context = "kith/reply/v2"
	ContextDeviceReaction      Context = "kith/reaction/v2"
	ContextDeviceFriendRequest Context = "kith/friend-request/v2"
	// Devices (issue 16): the identity certifies a device key, and withdraws it.
	ContextDeviceCertificate Context = "kith/device-certificate/v1"
	ContextDeviceRevocation  Context = "kith/device-revocation/v1"
	// ContextParcel signs a sealed parcel by its slot key (issue 17, peer/carry).
	ContextParcel Context = "kith/parcel/v1"
	// ContextCarriedRevocation signs an author's word that a post is no longer for one
	// reader, sealed to that reader and carried (issue 17).
	ContextCarriedRevocation Context = "kith/carried-revocation/v1"
)

// Contexts lists every context, for tests that check they stay prefix-free.
var Contexts = []Context{
	ContextRegistration, ContextUnregister, ContextListen, ContextOffer,
	ContextTurnCredentials, ContextPost, ContextRecoveryKit, ContextPublicProfile,
	ContextReply, ContextReaction, ContextFriendRequest,
	ContextDeviceReply, ContextDeviceReaction, ContextDeviceFriendRequest,
	ContextDeviceCertificate, ContextDeviceRevocation,
	ContextParcel, ContextCarriedRevocation,
}

// message returns context || payload.
func message(ctx Context, payload []byte) []byte {
	m := make([]byte, 0, len(ctx)+len(payload))
	return append(append(m, ctx...), payload...)
}

// Key is a private identity key.
type Key struct {
	priv ed25519.PrivateKey
	pub  PublicKey
}

// Generate makes a new key from rand (crypto/rand.Reader in production).
func Generate(rand io.Reader) (*Key, error) {
	_, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return nil, fmt.Errorf("generate identity key: %w", err)
	}
	return fromPrivate(priv), nil
}

// FromSeed rebuilds a key from its 32-byte seed.
func FromSeed(seed []byte) (*Key, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("identity key seed: want %d bytes, got %d", ed25519.SeedSize, len(seed))
	}
	return fromPrivate(ed25519.NewKeyFromSeed(seed)), nil
}

func fromPrivate(priv ed25519.PrivateKey) *Key {
	k := &Key{priv: priv}
	copy(k.pub[:], priv.Public().(ed25519.PublicKey))
	return k
}

// Public returns the key's public half.
func (k *Key) Public() PublicKey { return k.pub }

// ID returns the key's ID.
func (k *Key) ID() ID { return k.pub.ID() }

// Seed returns the 32-byte seed the key is derived from. Handle with care.
func (k *Key) Seed() []byte { return k.priv.Seed() }

// PrivateKey returns the key as a crypto/ed25519 key, for TLS certificates.
func (k *Key) PrivateKey() ed25519.PrivateKey { return k.priv }

// Sign signs context || payload.
func (k *Key) Sign(ctx Context, payload []byte) []byte {
	return ed25519.Sign(k.priv, message(ctx, payload))
}
