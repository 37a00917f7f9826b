package carry

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"

	"filippo.io/edwards25519"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/kithnet/kith/shared/identity"
)

// Errors a caller may test for with errors.Is.
var (
	// ErrNotForMe means no stanza of a sealed parcel opens with this key: the parcel is
	// addressed to others (a carrier keeps it sealed).
	ErrNotForMe = errors.New("sealed parcel is not addressed to this key")
	// ErrTampered means a parcel was altered or forged: a bad slot signature, a body
	// that does not decrypt under a stanza that opened, or contents that do not verify
	// as their author's.
	ErrTampered = errors.New("sealed parcel was altered or forged")
	// ErrMalformed means a parcel breaks the format's rules or bounds.
	ErrMalformed = errors.New("sealed parcel is malformed")
	// ErrTooLarge means a post with its attachments does not fit in one parcel.
	ErrTooLarge = errors.New("post too large to carry")
)

// sealVersion is the first byte of the sealed format.
const sealVersion = 1

// Sizes of the sealed format.
const (
	shareSize   = 32                             // the ephemeral X25519 share
	stanzaSize  = 32 + chacha20poly1305.Overhead // a wrapped file key
	headerSize  = 1 + shareSize + 2              // version, share, stanza count
	secretSize  = 32                             // an acknowledgement secret
	maxReaders  = 4096                           // stanzas in one parcel
	wrapContext = "kith/parcel-wrap/v1"
)

// x25519Public converts an ed25519 public key to its X25519 (Montgomery) form, as age's
// ssh-ed25519 recipients do, so a reader needs no second key.
func x25519Public(k identity.PublicKey) (*ecdh.PublicKey, error) {
	p, err := new(edwards25519.Point).SetBytes(k[:])
	if err != nil {
		return nil, fmt.Errorf("%w: reader key is not a curve point: %v", ErrMalformed, err)
	}
	return ecdh.X25519().NewPublicKey(p.BytesMontgomery())
}

// x25519Private converts an ed25519 key's seed to its X25519 scalar (RFC 8032's
// expanded secret; X25519 clamps it).
func x25519Private(k *identity.Key) (*ecdh.PrivateKey, error) {
	h := sha512.Sum512(k.Seed())
	return ecdh.X25519().NewPrivateKey(h[:32])
}

// derive gives the wrap key and the acknowledgement secret of one reader's stanza.
func derive(shared, share, reader []byte) (wrap, ack []byte, err error) {
	salt := append(append([]byte(nil), share...), reader...)
	out, err := hkdf.Key(sha256.New, shared, salt, wrapContext, 64)
	if err != nil {
		return nil, nil, err
	}
	return out[:32], out[32:], nil
}

// Sealed is a sealed body and what carriers learn of its readers: the hashes of their
// acknowledgement secrets, in random order.
type Sealed struct {
	Bytes []byte
	Acks  [][]byte
}

// Seal encrypts plaintext to readers: one ephemeral X25519 share, one wrapped file key
// per reader in random order (stanzas name no key), the body under ChaCha20-Poly1305.
// rnd is crypto/rand when nil.
func Seal(plaintext []byte, readers []identity.PublicKey, rnd io.Reader) (Sealed, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	if len(readers) == 0 || len(readers) > maxReaders {
		return Sealed{}, fmt.Errorf("%w: %d readers (1 to %d)", ErrMalformed, len(readers), maxReaders)
	}
	fileKey := make([]byte, chacha20poly1305.KeySize)
	if _, err := io.ReadFull(rnd, fileKey); err != nil {
		return Sealed{}, err
	}
	eph, err := ecdh.X25519().GenerateKey(rnd)
	if err != nil {
		return Sealed{}, err
	}
	share := eph.PublicKey().Bytes()
	out := make([]byte, 0, headerSize+len(readers)*stanzaSize+len(plaintext)+chacha20poly1305.Overhead)
	out = append(out, sealVersion)
	out = append(out, share...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(readers)))
	order := mrand.Perm(len(readers))
	acks := make([][]byte, len(readers))
	for i, j := range order {
		pub, err := x25519Public(readers[j])
		if err != nil {
			return Sealed{}, err
		}
		shared, err := eph.ECDH(pub)
		if err != nil {
			return Sealed{}, err
		}
		wrap, ack, err := derive(shared, share, pub.Bytes())
		if err != nil {
			return Sealed{}, err
		}
		aead, _ := chacha20poly1305.New(wrap)
		out = aead.Seal(out, make([]byte, chacha20poly1305.NonceSize), fileKey, share)
		h := sha256.Sum256(ack)
		acks[i] = h[:]
	}
	mrand.Shuffle(len(acks), func(a, b int) { acks[a], acks[b] = acks[b], acks[a] })
	aead, _ := chacha20poly1305.New(fileKey)
	out = aead.Seal(out, make([]byte, chacha20poly1305.NonceSize), plaintext, out[:headerSize])
	return Sealed{Bytes: out, Acks: acks}, nil
}

// Unseal decrypts sealed with k: ErrNotForMe when no stanza opens, ErrTampered when one
// does and the body does not. It returns the plaintext and this reader's
// acknowledgement secret.
func Unseal(sealed []byte, k *identity.Key) (plaintext, ack []byte, err error) {
	if len(sealed) < headerSize || sealed[0] != sealVersion {
		return nil, nil, fmt.Errorf("%w: bad header", ErrMalformed)
	}
	share := sealed[1 : 1+shareSize]
	n := int(binary.BigEndian.Uint16(sealed[1+shareSize : headerSize]))
	body := headerSize + n*stanzaSize
	if n == 0 || n > maxReaders || len(sealed) < body+chacha20poly1305.Overhead {
		return nil, nil, fmt.Errorf("%w: %d stanzas in %d bytes", ErrMalformed, n, len(sealed))
	}
	priv, err := x25519Private(k)
	if err != nil {
		return nil, nil, err
	}
	peer, err := ecdh.X25519().NewPublicKey(share)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: bad share: %v", ErrMalformed, err)
	}
	shared, err := priv.ECDH(peer)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: bad share: %v", ErrMalformed, err)
	}
	wrap, ack, err := derive(shared, share, priv.PublicKey().Bytes())
	if err != nil {
		return nil, nil, err
	}
	aead, _ := chacha20poly1305.New(wrap)
	nonce := make([]byte, chacha20poly1305.NonceSize)
	for i := 0; i < n; i++ {
		st := sealed[headerSize+i*stanzaSize : headerSize+(i+1)*stanzaSize]
		fileKey, err := aead.Open(nil, nonce, st, share)
		if err != nil {
			continue
		}
		baead, _ := chacha20poly1305.New(fileKey)
		pt, err := baead.Open(nil, nonce, sealed[body:], sealed[:headerSize])
		if err != nil {
			return nil, nil, fmt.Errorf("%w: body does not decrypt", ErrTampered)
		}
		return pt, ack, nil
	}
	return nil, nil, ErrNotForMe
}

// AckHash is what a carrier compares a presented acknowledgement secret with.
func AckHash(secret []byte) []byte {
	h := sha256.Sum256(secret)
	return h[:]
}

// slotKey derives the slot key of (kind, id) from the author's seed: stable across
// versions, so a newer parcel replaces the older at every carrier, and unlinkable to
// the author without the seed.
func slotKey(k *identity.Key, kind byte, id []byte) (*identity.Key, error) {
	seed, err := hkdf.Key(sha256.New, k.Seed(), append([]byte{kind}, id...), "kith/parcel-slot/v1", ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	return identity.FromSeed(seed)
}
