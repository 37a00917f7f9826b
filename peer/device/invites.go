package device

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"sync"
	"time"

	"github.com/kithnet/kith/shared/identity"
)

// CodeTTL is how long a join code may be redeemed.
const CodeTTL = 10 * time.Minute

// Invites are the join codes a device has handed out and not yet seen expire. A code
// is redeemed at most once, within CodeTTL. Codes are kept by the SHA-256 of their
// secret, so looking one up compares no secret bytes (no timing to learn from), and a
// used or expired code is remembered until twice CodeTTL, so a person who tries it
// again learns why it fails.
type Invites struct {
	now func() time.Time

	mu      sync.Mutex // guards pending
	pending map[[32]byte]*invite
}

type invite struct {
	proof   []byte // JoinProof of the secret: what an offer through the rendezvous carries
	name    string
	expires time.Time
	used    bool
	done    chan struct{} // closed when redeemed
}

// NewInvites returns an empty set on clock now (time.Now when nil).
func NewInvites(now func() time.Time) *Invites {
	if now == nil {
		now = time.Now
	}
	return &Invites{now: now, pending: map[[32]byte]*invite{}}
}

// Add makes a one-time code for a new device of person to be called name, valid
// CodeTTL. done is closed when the code is redeemed.
func (iv *Invites) Add(person identity.PublicKey, name string) (c Code, done <-chan struct{}, err error) {
	return iv.AddValid(person, name, CodeTTL)
}

// AddValid is Add with a code valid for valid, more than zero and at most CodeTTL
// (ErrValidity otherwise): a person who joins the device at once can make the window
// a guessed or overheard code is good for shorter.
func (iv *Invites) AddValid(person identity.PublicKey, name string, valid time.Duration) (c Code, done <-chan struct{}, err error) {
	if err := CheckValid(valid); err != nil {
		return c, nil, err
	}
	if err := CheckName(name); err != nil {
		return c, nil, err
	}
	if c, err = NewCode(person); err != nil {
		return c, nil, err
	}
	iv.mu.Lock()
	defer iv.mu.Unlock()
	iv.sweepLocked()
	in := &invite{proof: JoinProof(c.Secret), name: name, expires: iv.now().Add(valid), done: make(chan struct{})}
	iv.pending[sha256.Sum256(c.Secret[:])] = in
	return c, in.done, nil
}

// CheckValid checks how long a join code is asked to stay valid: more than zero and
// at most CodeTTL.
func CheckValid(valid time.Duration) error {
	if valid <= 0 || valid > CodeTTL {
		return fmt.Errorf("%w (asked for %v)", ErrValidity, valid)
	}
	return nil
}

// Redeem spends the code with secret and returns the name it was made for.
func (iv *Invites) Redeem(secret [SecretLen]byte) (string, error) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	iv.sweepLocked()
	in, ok := iv.pending[sha256.Sum256(secret[:])]
	switch {
	case !ok:
		return "", ErrUnknownCode
	case in.used:
		return "", ErrUsedCode
	case !iv.now().Before(in.expires):
		return "", fmt.Errorf("%w (it was for %q)", ErrExpiredCode, in.name)
	}
	in.used = true
	close(in.done)
	return in.name, nil
}

// Cancel withdraws the code with secret, if it is still pending (the person gave up
// waiting): it can no longer be redeemed.
func (iv *Invites) Cancel(secret [SecretLen]byte) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	if in, ok := iv.pending[sha256.Sum256(secret[:])]; ok && !in.used {
		in.expires = iv.now()
	}
}

// sweepLocked forgets codes past twice their lifetime; iv.mu held.
func (iv *Invites) sweepLocked() {
	now := iv.now()
	for k, in := range iv.pending {
		if now.Sub(in.expires) > CodeTTL {
			delete(iv.pending, k)
		}
	}
}

// joinProofContext keeps a join proof from ever equalling any other hash of a secret.
const joinProofContext = "kith/join-offer/v1"

// JoinProof is what a new device puts in its offer through the rendezvous as the punch
// secret: it shows the device that made the code that the caller holds it, without
// showing the secret (the offer is sealed to that device anyway).
func JoinProof(secret [SecretLen]byte) []byte {
	h := sha256.Sum256(append([]byte(joinProofContext), secret[:]...))
	return h[:16]
}

// OfferProof reports whether p is the JoinProof of a code that can still be redeemed:
// only then does the node answer a stranger's offer for a join.
func (iv *Invites) OfferProof(p []byte) bool {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	now := iv.now()
	found := 0
	for _, in := range iv.pending {
		if !in.used && now.Before(in.expires) {
			found |= subtle.ConstantTimeCompare(in.proof, p)
		}
	}
	return found == 1
}
