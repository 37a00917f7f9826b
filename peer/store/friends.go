package store

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/shared/identity"
)

// Friend is someone whose posts this peer pulls and who may see posts shared with them.
type Friend struct {
	// Key is the friend's public key.
	Key identity.PublicKey `json:"-"`
	// Name is what the person calls them locally.
	Name string `json:"name,omitempty"`
	// Groups are the groups the friend is in.
	Groups []string `json:"groups,omitempty"`
	// Addr is the friend's host:port when known (direct mode).
	Addr string `json:"addr,omitempty"`
}

// Init stores a new identity and profile name. It refuses a home that has one.
func (s *Store) Init(k *identity.Key, name string) error {
	return s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if hasIdentity(meta) {
			return ErrHasIdentity
		}
		if err := meta.Put([]byte("seed"), k.Seed()); err != nil {
			return err
		}
		if err := meta.Put([]byte("name"), []byte(name)); err != nil {
			return err
		}
		s.self, s.hasSelf = k.Public(), true
		return nil
	})
}

// Key returns the home's identity key: ErrNoIdentity when there is none, ErrKeyLocked
// when it is encrypted at rest and Unlock has not been called.
func (s *Store) Key() (*identity.Key, error) {
	s.mu.Lock()
	k := s.key
	s.mu.Unlock()
	if k != nil {
		return k, nil
	}
	var seed []byte
	var enc, dev bool
	err := s.db.View(func(tx *bolt.Tx) error {
		seed = append([]byte(nil), tx.Bucket(bMeta).Get(metaSeed)...)
		enc = tx.Bucket(bMeta).Get(metaSeedEnc) != nil
		dev = tx.Bucket(bMeta).Get(metaDevSeed) != nil
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case len(seed) > 0:
		return identity.FromSeed(seed)
	case enc:
		return nil, ErrKeyLocked
	case dev:
		return nil, errDeviceHoldsNoIdentity{}
	}
	return nil, ErrNoIdentity
}

// errDeviceHoldsNoIdentity is Key's error on a joined device: what needs the identity
// key itself (recovery, the key backup, the public profile, device certificates) must
// run where it lives. It reads as ErrNeedIdentity, and is ErrNoIdentity as well, so
// callers that fall back to the device key (Signer) keep working.
type errDeviceHoldsNoIdentity struct{}

func (errDeviceHoldsNoIdentity) Error() string { return ErrNeedIdentity.Error() }

// Is makes errors.Is match both ErrNeedIdentity and ErrNoIdentity.
func (errDeviceHoldsNoIdentity) Is(target error) bool {
	return target == ErrNeedIdentity || target == ErrNoIdentity
}

// Name returns the profile name.
func (s *Store) Name() (string, error) {
	var name string
	err := s.db.View(func(tx *bolt.Tx) error {
		name = string(tx.Bucket(bMeta).Get([]byte("name")))
		return nil
	})
	return name, err
}

// SetName sets the profile name.
func (s *Store) SetName(name string) error {
	return s.update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bMeta).Put([]byte("name"), []byte(name)); err != nil {
			return err
		}
		return s.touchKitLocked(tx)
	})
}

// CheckFriend validates a friend entry: a short name, group names, a host:port.
func CheckFriend(f Friend) error {
	if len(f.Name) > 100 || !utf8.ValidString(f.Name) {
		return fmt.Errorf("friend name: at most 100 bytes of UTF-8")
	}
	for _, g := range f.Groups {
		if err := CheckGroupName(g); err != nil {
			return err
		}
	}
	if f.Addr != "" {
		if _, _, err := net.SplitHostPort(f.Addr); err != nil {
			return fmt.Errorf("friend address %q: want HOST:PORT: %v", f.Addr, err)
		}
	}
	return nil
}

// CheckGroupName validates a group name.
func CheckGroupName(g string) error {
	if g == "" || len(g) > 64 || !utf8.ValidString(g) || strings.ContainsAny(g, ",: \t\n") {
		return fmt.Errorf("group name %q: 1 to 64 bytes, no spaces, commas or colons", g)
	}
	return nil
}

// PutFriend adds a friend, or replaces a known friend's entry. Posts whose visibility
// for this friend changes get a new sequence number, so the friend's feed says so.
func (s *Store) PutFriend(f Friend) error {
	if err := CheckFriend(f); err != nil {
		return err
	}
	if s.hasSelf && f.Key == s.self {
		return fmt.Errorf("add friend: that is this home's own ID")
	}
	return s.update(func(tx *bolt.Tx) error {
		if err := s.putFriendLocal(tx, f); err != nil {
			return err
		}
		return s.settleGroups(tx) // the friend may have left a group removed on another device
	})
}

// putFriendLocal is a write of f made on this device: it dates the entry, and the
// groups f brings into being, with this device's stamp (liststamps.go), then stores it.
func (s *Store) putFriendLocal(tx *bolt.Tx, f Friend) error {
	for _, g := range f.Groups {
		if r, ok := stampOf(tx, groupStampKey(g)); tx.Bucket(bGroups).Get([]byte(g)) == nil || ok && r.Removed {
			if err := s.stampLocal(tx, groupStampKey(g), false); err != nil {
				return err
			}
		}
	}
	if err := s.stampLocal(tx, friendStampKey(f.Key), false); err != nil {
		return err
	}
	return s.putFriendLocked(tx, f)
}

// putFriendLocked stores f inside a write transaction, with every effect of adding or
// changing a friend; f is checked. Local writes and other devices' writes both end here.
func (s *Store) putFriendLocked(tx *bolt.Tx, f Friend) error {
	before := s.viewerOf(tx, f.Key)
	v, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bFriends).Put(f.Key[:], v); err != nil {
		return err
	}
	for _, g := range f.Groups {
		if err := tx.Bucket(bGroups).Put([]byte(g), nil); err != nil {
			return err
		}
	}
	if err := s.touchKitLocked(tx); err != nil {
		return err
	}
	return s.resequenceFor(tx, before, s.viewerOf(tx, f.Key))
}

// RemoveFriend forgets a friend (and their cursor); they become a stranger.
func (s *Store) RemoveFriend(k identity.PublicKey) error {
	return s.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bFriends).Get(k[:]) == nil {
			return fmt.Errorf("remove friend %s: %w", k.Short(), ErrNotFriend)
		}
		if err := s.stampLocal(tx, friendStampKey(k), true); err != nil {
			return err
		}
		if err := s.removeFriendLocked(tx, k); err != nil {
			return err
		}
		return pruneTombstones(tx)
	})
}

// removeFriendLocked forgets friend k inside a write transaction, with every effect of
// a removal: cursor, reachability key rotated, kit revision, revocations of what k may
// no longer see. Local removals and other devices' removals both end here.
func (s *Store) removeFriendLocked(tx *bolt.Tx, k identity.PublicKey) error {
	before := s.viewerOf(tx, k)
	if err := tx.Bucket(bFriends).Delete(k[:]); err != nil {
		return err
	}
	if err := tx.Bucket(bCursors).Delete(k[:]); err != nil {
		return err
	}
	if err := rotateReachKey(tx, k); err != nil {
		return err
	}
	if err := s.touchKitLocked(tx); err != nil {
		return err
	}
	return s.resequenceFor(tx, before, s.viewerOf(tx, k))
}

// Friends lists every friend.
func (s *Store) Friends() ([]Friend, error) {
	var out []Friend
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = friends(tx)
		return err
	})
	return out, err
}

// Friend returns one friend's entry.
func (s *Store) Friend(k identity.PublicKey) (Friend, error) {
	var f Friend
	err := s.db.View(func(tx *bolt.Tx) error {
		var ok bool
		f, ok = friendOf(tx, k)
		if !ok {
			return fmt.Errorf("friend %s: %w", k.Short(), ErrNotFriend)
		}
		return nil
	})
	return f, err
}

// AddGroup creates an empty group (friends' entries also create the groups they name).
func (s *Store) AddGroup(name string) error {
	if err := CheckGroupName(name); err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		r, ok := stampOf(tx, groupStampKey(name))
		if tx.Bucket(bGroups).Get([]byte(name)) != nil && !(ok && r.Removed) {
			return nil // there already (a group removed elsewhere but kept by a friend is added again)
		}
		if err := tx.Bucket(bGroups).Put([]byte(name), nil); err != nil {
			return err
		}
		if err := s.stampLocal(tx, groupStampKey(name), false); err != nil {
			return err
		}
		return s.touchKitLocked(tx)
	})
}

// RemoveGroup deletes a group: every friend in it leaves it (each a write of its
// entry, so audiences naming the group reach nobody now), and the group is kept as a
// tombstone so the person's other devices remove it too.
func (s *Store) RemoveGroup(name string) error {
	return s.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bGroups).Get([]byte(name)) == nil {
			return fmt.Errorf("remove group %q: %w", name, ErrNotFound)
		}
		fs, err := friends(tx)
		if err != nil {
			return err
		}
		for _, f := range fs {
			if !slices.Contains(f.Groups, name) {
				continue
			}
			f.Groups = slices.DeleteFunc(f.Groups, func(g string) bool { return g == name })
			if err := s.putFriendLocal(tx, f); err != nil {
				return err
			}
		}
		if err := s.stampLocal(tx, groupStampKey(name), true); err != nil {
			return err
		}
		if err := s.removeGroupLocked(tx, name); err != nil {
			return err
		}
		return pruneTombstones(tx)
	})
}

// removeGroupLocked deletes group name unless a friend is still in it (a later write
// on another device put them there: the group lives on through them).
func (s *Store) removeGroupLocked(tx *bolt.Tx, name string) error {
	fs, err := friends(tx)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if slices.Contains(f.Groups, name) {
			return nil
		}
	}
	if tx.Bucket(bGroups).Get([]byte(name)) == nil {
		return nil
	}
	if err := tx.Bucket(bGroups).Delete([]byte(name)); err != nil {
		return err
	}
	return s.touchKitLocked(tx)
}

// Groups lists the group names.
func (s *Store) Groups() ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		out = groups(tx)
		return nil
	})
	return out, err
}

// Viewer returns how this peer sees a key: itself, a friend (with groups) or a stranger.
func (s *Store) Viewer(k identity.PublicKey) (feed.Viewer, error) {
	var v feed.Viewer
	err := s.db.View(func(tx *bolt.Tx) error {
		v = s.viewerOf(tx, k)
		return nil
	})
	return v, err
}

func groups(tx *bolt.Tx) []string {
	var out []string
	tx.Bucket(bGroups).ForEach(func(k, _ []byte) error {
		out = append(out, string(k))
		return nil
	})
	return out
}

func friends(tx *bolt.Tx) ([]Friend, error) {
	var out []Friend
	err := tx.Bucket(bFriends).ForEach(func(k, v []byte) error {
		f, err := decodeFriend(k, v)
		out = append(out, f)
		return err
	})
	return out, err
}

func decodeFriend(k, v []byte) (Friend, error) {
	var f Friend
	if err := json.Unmarshal(v, &f); err != nil {
		return f, fmt.Errorf("friend %x: corrupt entry: %w", k, err)
	}
	copy(f.Key[:], k)
	return f, nil
}

func friendOf(tx *bolt.Tx, k identity.PublicKey) (Friend, bool) {
	v := tx.Bucket(bFriends).Get(k[:])
	if v == nil {
		return Friend{}, false
	}
	f, err := decodeFriend(k[:], v)
	return f, err == nil
}

func (s *Store) viewerOf(tx *bolt.Tx, k identity.PublicKey) feed.Viewer {
	if s.hasSelf && s.self == k {
		return feed.Viewer{Key: k, Self: true}
	}
	f, ok := friendOf(tx, k)
	if !ok {
		return feed.Stranger(k)
	}
	return feed.Viewer{Key: k, Friend: true, Groups: slices.Clone(f.Groups)}
}

func viewers(tx *bolt.Tx) ([]feed.Viewer, error) {
	fs, err := friends(tx)
	vs := make([]feed.Viewer, 0, len(fs))
	for _, f := range fs {
		vs = append(vs, feed.Viewer{Key: f.Key, Friend: true, Groups: f.Groups})
	}
	return vs, err
}
