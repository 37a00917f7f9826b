package discovery

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/ssh"
	"google.golang.org/protobuf/proto"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// Errors of sealing and opening.
var (
	// ErrBadOffer means a sealed offer does not open, verify or match its frame.
	ErrBadOffer = errors.New("sealed offer does not open or verify")
	// ErrNoReachability means a registration's sealed candidates do not open with the
	// key held (none held, or the person rotated it since).
	ErrNoReachability = errors.New("the record's candidates do not open with the reachability key held")
)

// ReachKeyLen is the length of a reachability key.
const ReachKeyLen = chacha20poly1305.KeySize

// maxSealed bounds a sealed offer before it is decrypted.
const maxSealed = 8 << 10

// reachAD is the associated data of a SealedReachability: it binds the ciphertext to the
// record's key and timestamp.
func reachAD(signer []byte, tsMs int64) []byte {
	ad := append([]byte("kith/reachability/v2"), signer...)
	return binary.BigEndian.AppendUint64(ad, uint64(tsMs))
}

// SealReachability seals cands under key for a record of signer stamped tsMs.
func SealReachability(key []byte, signer identity.PublicKey, tsMs int64, cands []*rendezvousv1.Candidate) (*rendezvousv1.SealedReachability, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("reachability key: %w", err)
	}
	eps, err := endpoints(cands)
	if err != nil {
		return nil, err
	}
	plain, err := proto.Marshal(&rendezvousv1.Reachability{Endpoints: eps})
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return &rendezvousv1.SealedReachability{Nonce: nonce, Ciphertext: aead.Seal(nil, nonce, plain, reachAD(signer[:], tsMs))}, nil
}

// OpenReachability opens a verified registration's sealed candidates with key.
func OpenReachability(key []byte, reg *rendezvousv1.Registration) ([]*rendezvousv1.Candidate, error) {
	sr := reg.GetReachability()
	if sr == nil || len(key) != ReachKeyLen {
		return nil, ErrNoReachability
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil || len(sr.GetNonce()) != aead.NonceSize() {
		return nil, ErrNoReachability
	}
	plain, err := aead.Open(nil, sr.GetNonce(), sr.GetCiphertext(), reachAD(reg.GetPublicKey(), reg.GetTimestampUnixMs()))
	if err != nil {
		return nil, ErrNoReachability
	}
	var r rendezvousv1.Reachability
	if err := proto.Unmarshal(plain, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoReachability, err)
	}
	return candidates(r.GetEndpoints())
}

// NewReachKey makes a fresh reachability key.
func NewReachKey() []byte {
	k := make([]byte, ReachKeyLen)
	rand.Read(k)
	return k
}

// recipient is target's ed25519 key as an age recipient (converted to X25519 by agessh).
func recipient(target identity.PublicKey) (age.Recipient, error) {
	pk, err := ssh.NewPublicKey(ed25519.PublicKey(target[:]))
	if err != nil {
		return nil, err
	}
	return agessh.NewEd25519Recipient(pk)
}

// SealOffer signs o (its key, target, timestamp and nonce are filled in here) with
// caller under kith/offer/v2 and seals it to target: the rendezvous sees only where it
// goes, when, and a fresh nonce.
func SealOffer(caller *identity.Key, target identity.PublicKey, o *rendezvousv1.Offer, now time.Time) (*rendezvousv1.SealedOffer, error) {
	return sealOfferTo(caller, target, target.Fingerprint(), o, now)
}

// sealOfferTo seals o to the key to, for the person whose fingerprint is target (the
// same key, or a device of that person: issue 16).
func sealOfferTo(caller *identity.Key, to identity.PublicKey, target identity.Fingerprint, o *rendezvousv1.Offer, now time.Time) (*rendezvousv1.SealedOffer, error) {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	o.PublicKey = caller.Public().Bytes()
	o.TargetFingerprint = string(target)
	o.TimestampUnixMs = now.UnixMilli()
	o.Nonce = nonce
	env, err := signed.Seal(caller, identity.ContextOffer, o)
	if err != nil {
		return nil, err
	}
	inner, err := proto.Marshal(env)
	if err != nil {
		return nil, err
	}
	r, err := recipient(to)
	if err != nil {
		return nil, fmt.Errorf("seal offer: %w", err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		return nil, fmt.Errorf("seal offer: %w", err)
	}
	if _, err := w.Write(inner); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return &rendezvousv1.SealedOffer{Version: rendezvousv1.RecordVersion_RECORD_VERSION_2,
		TargetFingerprint: o.TargetFingerprint, TimestampUnixMs: o.TimestampUnixMs, Nonce: nonce, Sealed: buf.Bytes()}, nil
}

// OpenOffer opens a sealed offer addressed to self, verifies the caller's signature and
// checks that the signed body matches the frame the rendezvous carried (target,
// timestamp, nonce), so a frame cannot be re-stamped around an old body.
func OpenOffer(self *identity.Key, so *rendezvousv1.SealedOffer) (identity.PublicKey, *rendezvousv1.Offer, error) {
	id, err := ageIdentity(self)
	if err != nil {
		return identity.PublicKey{}, nil, err
	}
	return openOfferAs(id, self.Public(), so)
}

// ageIdentity is self as the age identity offers sealed to it open with. Making it
// takes two of an open's four X25519 multiplications: a Client makes it once (New),
// not per offer, which the callee opens on the way to its answer.
func ageIdentity(self *identity.Key) (age.Identity, error) {
	return agessh.NewEd25519Identity(self.PrivateKey())
}

// openOfferAs is OpenOffer for a device: self is the age identity (ageIdentity) of the
// key the offer is sealed to, person the identity the offer must be addressed to.
func openOfferAs(self age.Identity, person identity.PublicKey, so *rendezvousv1.SealedOffer) (identity.PublicKey, *rendezvousv1.Offer, error) {
	if len(so.GetSealed()) > maxSealed {
		return identity.PublicKey{}, nil, fmt.Errorf("%w: %d bytes", ErrBadOffer, len(so.GetSealed()))
	}
	r, err := age.Decrypt(bytes.NewReader(so.GetSealed()), self)
	if err != nil {
		return identity.PublicKey{}, nil, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	inner, err := io.ReadAll(io.LimitReader(r, maxSealed))
	if err != nil {
		return identity.PublicKey{}, nil, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	var env signedv1.Envelope
	if err := proto.Unmarshal(inner, &env); err != nil {
		return identity.PublicKey{}, nil, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	var o rendezvousv1.Offer
	from, err := signed.Open(&env, identity.ContextOffer, &o)
	if err == nil {
		err = signed.CheckKeyField(from, o.GetPublicKey())
	}
	if err != nil {
		return from, nil, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	// An if a rule, not a tagless switch, so that gremlins sees each one tested.
	if o.GetTargetFingerprint() != string(person.Fingerprint()) || so.GetTargetFingerprint() != o.GetTargetFingerprint() {
		return from, nil, fmt.Errorf("%w: it is for someone else", ErrBadOffer)
	}
	if o.GetTimestampUnixMs() != so.GetTimestampUnixMs() || !bytes.Equal(o.GetNonce(), so.GetNonce()) {
		return from, nil, fmt.Errorf("%w: the frame's timestamp or nonce differs from the signed one", ErrBadOffer)
	}
	return from, &o, nil
}

// Warm seals an offer to the client's own key and opens it, so that the first offer the
// node makes or answers after it starts does not also pay for the first use of age's
// cryptography. Nothing leaves the process.
func (c *Client) Warm() error {
	self := c.cfg.Key.Public()
	so, err := SealOffer(c.cfg.Key, self, &rendezvousv1.Offer{PunchSecret: make([]byte, 16)}, c.cfg.Now())
	if err == nil {
		_, _, err = openOfferAs(c.self, self, so)
	}
	return err
}
