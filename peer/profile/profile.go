// Package profile seals and opens a person's public profile (kith.sync.v1.PublicProfile):
// the opt-in name and follow list that anyone, crawlers included, may read.
package profile

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
	"unicode/utf8"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// Limits of a public profile.
const (
	// MaxFollows is the longest public follow list.
	MaxFollows = 1000
	// MaxName is the longest published name, in bytes.
	MaxName = 100
	// MaxAddress is the longest published host:port.
	MaxAddress = 255
)

// Errors a caller may test for with errors.Is.
var (
	// ErrInvalid means a profile breaks a rule (the message says which).
	ErrInvalid = errors.New("invalid public profile")
	// ErrBadFollow means a follow entry or seed is not ID or ID@HOST:PORT.
	ErrBadFollow = errors.New("want ID or ID@HOST:PORT")
)

// Follow is one entry of a public follow list.
type Follow struct {
	// Key is the followed person's key.
	Key identity.PublicKey
	// Addr is a host:port published with the follow, or empty.
	Addr string
}

// String returns the entry as ParseFollow reads it: ID or ID@HOST:PORT.
func (f Follow) String() string {
	if f.Addr == "" {
		return string(f.Key.ID())
	}
	return string(f.Key.ID()) + "@" + f.Addr
}

// Profile is a public profile, parsed.
type Profile struct {
	// Owner is the person the profile is about; it signs it.
	Owner identity.PublicKey
	// Name is the published name, or empty.
	Name string
	// Follows is the public follow list, nil unless published.
	Follows []Follow
	// Signed is when the serving peer signed this copy.
	Signed time.Time
}

// ParseFollow parses "ID" or "ID@HOST:PORT", the form people type and seeds use.
func ParseFollow(s string) (Follow, error) {
	id, addr, hasAddr := strings.Cut(s, "@")
	k, err := identity.ParseID(id)
	if err != nil {
		return Follow{}, fmt.Errorf("%q: %w (%w)", clip(s), err, ErrBadFollow)
	}
	f := Follow{Key: k}
	if hasAddr {
		if err := CheckAddr(addr); err != nil {
			return Follow{}, fmt.Errorf("%q: %w (%w)", clip(s), err, ErrBadFollow)
		}
		f.Addr = addr
	}
	return f, nil
}

// CheckAddr accepts a host:port with a non-empty host and a numeric port.
func CheckAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	switch {
	case err != nil:
		return fmt.Errorf("address %q is not HOST:PORT", clip(addr))
	case host == "" || len(addr) > MaxAddress || !utf8.ValidString(addr):
		return fmt.Errorf("address %q has no usable host", clip(addr))
	case !isPort(port):
		return fmt.Errorf("address %q: port must be 1-65535", clip(addr))
	}
	return nil
}

func isPort(p string) bool {
	n := 0
	for _, r := range p {
		if r < '0' || r > '9' || n > 65535 {
			return false
		}
		n = n*10 + int(r-'0')
	}
	return p != "" && n >= 1 && n <= 65535
}

// Check applies the limits to a profile, whoever made it.
func Check(p Profile) error {
	switch {
	case len(p.Name) > MaxName || !utf8.ValidString(p.Name):
		return fmt.Errorf("%w: the name must be at most %d bytes of UTF-8", ErrInvalid, MaxName)
	case len(p.Follows) > MaxFollows:
		return fmt.Errorf("%w: %d follows, the limit is %d", ErrInvalid, len(p.Follows), MaxFollows)
	}
	for _, f := range p.Follows {
		if f.Key == p.Owner {
			return fmt.Errorf("%w: the follow list names its owner", ErrInvalid)
		}
		if f.Addr != "" {
			if err := CheckAddr(f.Addr); err != nil {
				return fmt.Errorf("%w: follow %s: %w", ErrInvalid, f.Key.Short(), err)
			}
		}
	}
	return nil
}

// Seal checks p and signs it with k (p.Owner is k's key) at now.
func Seal(k *identity.Key, p Profile, now time.Time) (*signedv1.Envelope, error) {
	p.Owner = k.Public()
	if err := Check(p); err != nil {
		return nil, err
	}
	msg := &syncv1.PublicProfile{Owner: p.Owner.Bytes(), CreatedUnixMs: now.UnixMilli(), Name: p.Name}
	for _, f := range p.Follows {
		msg.Follows = append(msg.Follows, &syncv1.PublicFollow{Key: f.Key.Bytes(), Address: f.Addr})
	}
	return signed.Seal(k, identity.ContextPublicProfile, msg)
}

// OpenFrom verifies a profile envelope signed by want, and only then parses it.
func OpenFrom(env *signedv1.Envelope, want identity.PublicKey) (Profile, error) {
	var msg syncv1.PublicProfile
	if err := signed.OpenFrom(env, identity.ContextPublicProfile, want, &msg); err != nil {
		return Profile{}, fmt.Errorf("open profile: %w", err)
	}
	if err := signed.CheckKeyField(want, msg.GetOwner()); err != nil {
		return Profile{}, fmt.Errorf("open profile: %w", err)
	}
	p := Profile{Owner: want, Name: msg.GetName(), Signed: time.UnixMilli(msg.GetCreatedUnixMs())}
	if len(msg.GetFollows()) > MaxFollows {
		return Profile{}, fmt.Errorf("open profile: %w: %d follows, the limit is %d", ErrInvalid, len(msg.GetFollows()), MaxFollows)
	}
	for i, f := range msg.GetFollows() {
		k, err := identity.PublicKeyFromBytes(f.GetKey())
		if err != nil {
			return Profile{}, fmt.Errorf("open profile: %w: follow %d: %w", ErrInvalid, i, err)
		}
		p.Follows = append(p.Follows, Follow{Key: k, Addr: f.GetAddress()})
	}
	if err := Check(p); err != nil {
		return Profile{}, fmt.Errorf("open profile: %w", err)
	}
	return p, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
