package store

import (
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/shared/identity"
)

// ResolveAudience turns the words of `kith post --to` into an audience: me, friends,
// public, a group name, a friend's name or a friend's ID, in any combination. No words
// is the default audience (all friends).
func (s *Store) ResolveAudience(words []string) (feed.Audience, error) {
	var a feed.Audience
	if len(words) == 0 {
		return feed.Default(), nil
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		fs, err := friends(tx)
		if err != nil {
			return err
		}
		gs := groups(tx)
		for _, w := range words {
			switch {
			case w == "me":
				a.Me = true
			case w == "friends":
				a.Friends = true
			case w == "public":
				a.Public = true
			case slices.Contains(gs, w):
				a.Groups = append(a.Groups, w)
			default:
				k, err := friendByWord(fs, w)
				if err != nil {
					return err
				}
				a.People = append(a.People, k.ID())
			}
		}
		return nil
	})
	return a, err
}

func friendByWord(fs []Friend, w string) (identity.PublicKey, error) {
	if k, err := identity.ParseID(w); err == nil {
		for _, f := range fs {
			if f.Key == k {
				return k, nil
			}
		}
		return k, fmt.Errorf("%w: %s is not a friend (add them with `kith friend add`)", feed.ErrBadAudience, w)
	}
	var found []identity.PublicKey
	for _, f := range fs {
		if f.Name == w {
			found = append(found, f.Key)
		}
	}
	switch len(found) {
	case 0:
		return identity.PublicKey{}, fmt.Errorf("%w: %q is not me, friends, public, a group, a friend's name or ID", feed.ErrBadAudience, w)
	case 1:
		return found[0], nil
	}
	return identity.PublicKey{}, fmt.Errorf("%w: %d friends are named %q; use an ID", feed.ErrBadAudience, len(found), w)
}
