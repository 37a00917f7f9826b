package device

import (
	"crypto/sha256"
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

// Add makes a one-time code for a new device of person to be called name. done is
// closed when the code is redeemed.
func (iv *Invites) Add(person identity.PublicKey, name string) (c Code, done <-chan struct{}, err error) {
	if err := CheckName(name); err != nil {
		return c, nil, err
	}
	if c, err = NewCode(person); err != nil {
		return c, nil, err
	}
	iv.mu.Lock()
	defer iv.mu.Unlock()
	iv.sweepLocked()
	in := &invite{name: name, expires: iv.now().Add(CodeTTL), done: make(chan struct{})}
	iv.pending[sha256.Sum256(c.Secret[:])] = in
	return c, in.done, nil
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
