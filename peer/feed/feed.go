// Package feed decides who may see what: a post's audience (the author's local metadata)
// against a viewer, and what a viewer's changes feed says about a post.
package feed

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kithnet/kith/shared/identity"
)

// ErrBadAudience means an audience names nothing or something that does not exist.
var ErrBadAudience = errors.New("bad audience")

// Audience is who may see a post, in any combination. The zero Audience is nobody but the
// author; Default (all friends) is what a post gets when its author says nothing.
type Audience struct {
	// Me is the author alone; it adds nothing to the other fields (the author always sees).
	Me bool `json:"me,omitempty"`
	// Friends is every friend, present and future.
	Friends bool `json:"friends,omitempty"`
	// Public is anyone, friends and strangers.
	Public bool `json:"public,omitempty"`
	// Groups are named groups of friends.
	Groups []string `json:"groups,omitempty"`
	// People are individual friends.
	People []identity.ID `json:"people,omitempty"`
}

// Default is the out-of-the-box audience: all friends.
func Default() Audience { return Audience{Friends: true} }

// IsZero reports whether a says nothing at all.
func (a Audience) IsZero() bool {
	return !a.Me && !a.Friends && !a.Public && len(a.Groups) == 0 && len(a.People) == 0
}

// String reads like the CLI's --to flags.
func (a Audience) String() string {
	var parts []string
	if a.Me {
		parts = append(parts, "me")
	}
	if a.Friends {
		parts = append(parts, "friends")
	}
	if a.Public {
		parts = append(parts, "public")
	}
	for _, g := range a.Groups {
		parts = append(parts, "group:"+g)
	}
	for _, p := range a.People {
		parts = append(parts, "friend:"+string(p)[:8])
	}
	if len(parts) == 0 {
		return "me"
	}
	return strings.Join(parts, ",")
}

// Viewer is someone asking to see posts, as the author's peer knows them.
type Viewer struct {
	// Key is the viewer's key, from the TLS handshake.
	Key identity.PublicKey
	// Self is true when the viewer is the author.
	Self bool
	// Friend is true when the viewer is one of the author's friends.
	Friend bool
	// Groups are the author's groups the viewer belongs to.
	Groups []string
}

// Stranger returns the viewer a key is when it is not a friend.
func Stranger(k identity.PublicKey) Viewer { return Viewer{Key: k} }

// Visible reports whether v may see a post whose audience is a.
func Visible(a Audience, v Viewer) bool {
	switch {
	case v.Self, a.Public:
		return true
	case !v.Friend:
		return false
	case a.Friends:
		return true
	}
	for _, g := range v.Groups {
		if slices.Contains(a.Groups, g) {
			return true
		}
	}
	return slices.Contains(a.People, v.Key.ID())
}

// Shared records who a post was ever visible to, so only they hear of its revocation.
type Shared struct {
	// Public is true when the post was public at some point: its id was anyone's to see.
	Public bool `json:"public,omitempty"`
	// People are the friends who could see it at some point.
	People []identity.ID `json:"people,omitempty"`
}

// Add records that everyone in viewers who may see under a saw the post.
func (s *Shared) Add(a Audience, viewers []Viewer) {
	if a.Public {
		s.Public = true
	}
	for _, v := range viewers {
		if !v.Self && Visible(a, v) && !slices.Contains(s.People, v.Key.ID()) {
			s.People = append(s.People, v.Key.ID())
		}
	}
}

// Kind is what a viewer's changes feed says about a post.
type Kind int

// The kinds of feed entries a viewer may get.
const (
	// Hidden means the viewer hears nothing about the post, not even its id.
	Hidden Kind = iota
	// Post means the viewer may fetch the post.
	Post
	// Revoked means the viewer saw the post once and must drop its copy.
	Revoked
)

// Decide says what v's feed tells about a post with audience a and sharing history s.
func Decide(a Audience, s Shared, v Viewer) Kind {
	switch {
	case Visible(a, v):
		return Post
	case s.Public, slices.Contains(s.People, v.Key.ID()):
		return Revoked
	}
	return Hidden
}

// Check verifies that a names only groups and people that exist: groups is the set of
// group names, friends says whether an ID is a friend.
func Check(a Audience, groups []string, friend func(identity.ID) bool) error {
	if a.IsZero() {
		return fmt.Errorf("%w: it names nobody; say me, friends, public, a group or a friend", ErrBadAudience)
	}
	for _, g := range a.Groups {
		if !slices.Contains(groups, g) {
			return fmt.Errorf("%w: no group named %q", ErrBadAudience, g)
		}
	}
	for _, p := range a.People {
		if _, err := identity.ParseID(string(p)); err != nil {
			return fmt.Errorf("%w: %w", ErrBadAudience, err)
		}
		if !friend(p) {
			return fmt.Errorf("%w: %s is not a friend", ErrBadAudience, p)
		}
	}
	return nil
}
