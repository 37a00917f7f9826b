package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/peer/profile"
	"github.com/kithnet/kith/shared/identity"
)

// Meta keys of the public profile (new keys in the meta bucket; no schema change).
var (
	metaPublicFollows = []byte("pubfollows") // JSON []publicFollow; absent: none published
	metaPublishName   = []byte("pubname")    // "1": the name is published
)

type publicFollow struct {
	ID   identity.ID `json:"id"`
	Addr string      `json:"addr,omitempty"`
}

// PublicSettings is what the person chose to publish about themselves.
type PublicSettings struct {
	// PublishName says whether the profile name is public.
	PublishName bool
	// Follows is the public follow list; nil: none is published (the default).
	Follows []profile.Follow
}

// PublicSettings returns the public profile settings.
func (s *Store) PublicSettings() (PublicSettings, error) {
	var ps PublicSettings
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		ps.PublishName = string(meta.Get(metaPublishName)) == "1"
		raw := meta.Get(metaPublicFollows)
		if raw == nil {
			return nil
		}
		var fs []publicFollow
		if err := json.Unmarshal(raw, &fs); err != nil {
			return fmt.Errorf("public follow list: %w", err)
		}
		for _, f := range fs {
			k, err := identity.ParseID(string(f.ID))
			if err != nil {
				return fmt.Errorf("public follow list: %w", err)
			}
			ps.Follows = append(ps.Follows, profile.Follow{Key: k, Addr: f.Addr})
		}
		return nil
	})
	return ps, err
}

// SetPublicFollows replaces the public follow list; an empty list publishes none.
func (s *Store) SetPublicFollows(follows []profile.Follow) error {
	self, err := s.Self()
	if err != nil {
		return err
	}
	if err := profile.Check(profile.Profile{Owner: self, Follows: follows}); err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if len(follows) == 0 {
			return meta.Delete(metaPublicFollows)
		}
		fs := make([]publicFollow, 0, len(follows))
		for _, f := range follows {
			fs = append(fs, publicFollow{ID: f.Key.ID(), Addr: f.Addr})
		}
		raw, err := json.Marshal(fs)
		if err != nil {
			return err
		}
		return meta.Put(metaPublicFollows, raw)
	})
}

// SetPublishName says whether the profile name is public.
func (s *Store) SetPublishName(on bool) error {
	return s.update(func(tx *bolt.Tx) error {
		if !on {
			return tx.Bucket(bMeta).Delete(metaPublishName)
		}
		return tx.Bucket(bMeta).Put(metaPublishName, []byte("1"))
	})
}

// PublicProfile returns the profile as anyone may see it: the owner, and the name and
// follow list only when the person published them.
func (s *Store) PublicProfile() (profile.Profile, error) {
	k, err := s.Self()
	if err != nil {
		return profile.Profile{}, err
	}
	ps, err := s.PublicSettings()
	if err != nil {
		return profile.Profile{}, err
	}
	p := profile.Profile{Owner: k, Follows: ps.Follows}
	if ps.PublishName {
		if p.Name, err = s.Name(); err != nil {
			return profile.Profile{}, err
		}
	}
	return p, nil
}
