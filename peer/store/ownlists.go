package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/shared/identity"
)

// The person's lists as own-device sync carries them (issue 16; docs/DESIGN.md
// "Removals reach every device"): every friend and group with the stamp of its last
// write, removals as tombstones, and the horizon below which pruned tombstones were.

// ListsVersion is the version of the lists encoding in kith.sync.v1
// OwnChangesResponse.lists (its lists_version field). Version 1 was an unstamped
// friend list and a group list, with no removals.
const ListsVersion = 2

// MaxListEntries bounds the friend and group entries one answer may carry (each).
const MaxListEntries = 10000 + MaxTombstones

// ErrBadLists means another device's lists do not parse or break a rule; nothing of
// the answer is applied.
var ErrBadLists = errors.New("malformed own-device lists")

// FriendEntry is one friend entry as the person's devices exchange it.
type FriendEntry struct {
	// Friend is the entry (only its key when Removed).
	Friend
	// Stamp dates the entry's last write.
	Stamp Stamp
	// Removed marks a removal (a tombstone).
	Removed bool
}

// GroupEntry is one group as the person's devices exchange it.
type GroupEntry struct {
	// Name is the group's name.
	Name string
	// Stamp dates the group's last write.
	Stamp Stamp
	// Removed marks a removal (a tombstone).
	Removed bool
}

// Lists are the person's friends and groups with their stamps.
type Lists struct {
	Friends []FriendEntry
	Groups  []GroupEntry
	// Horizon is the newest stamp of a tombstone the serving device pruned.
	Horizon Stamp
}

type wireStamp struct {
	MS  uint64 `json:"ms,omitempty"`
	Dev []byte `json:"dev,omitempty"`
}

type wireFriendEntry struct {
	Key []byte `json:"key"`
	Friend
	Stamp   wireStamp `json:"stamp"`
	Removed bool      `json:"removed,omitempty"`
}

type wireGroupEntry struct {
	Name    string    `json:"name"`
	Stamp   wireStamp `json:"stamp"`
	Removed bool      `json:"removed,omitempty"`
}

type wireLists struct {
	Friends []wireFriendEntry `json:"friends"`
	Groups  []wireGroupEntry  `json:"groups"`
	Horizon wireStamp         `json:"horizon"`
}

func toWire(s Stamp) wireStamp {
	if s.IsZero() {
		return wireStamp{}
	}
	return wireStamp{MS: s.MS, Dev: bytes.Clone(s.Dev[:])}
}

// MarshalLists encodes lists for OwnChanges (version ListsVersion).
func MarshalLists(l Lists) ([]byte, error) {
	w := wireLists{Friends: []wireFriendEntry{}, Groups: []wireGroupEntry{}, Horizon: toWire(l.Horizon)}
	for _, f := range l.Friends {
		e := wireFriendEntry{Key: bytes.Clone(f.Key[:]), Stamp: toWire(f.Stamp), Removed: f.Removed}
		if !f.Removed {
			e.Friend = f.Friend
		}
		w.Friends = append(w.Friends, e)
	}
	for _, g := range l.Groups {
		w.Groups = append(w.Groups, wireGroupEntry{Name: g.Name, Stamp: toWire(g.Stamp), Removed: g.Removed})
	}
	return json.Marshal(w)
}

// ParseLists decodes another device's lists of version v, checking every entry: keys,
// names, addresses, stamps (a removal must be stamped; no stamp more than a day past
// now), no entry twice, at most MaxListEntries of each kind.
func ParseLists(v uint32, b []byte, now time.Time) (Lists, error) {
	var l Lists
	if v != ListsVersion {
		return l, fmt.Errorf("%w: version %d; this kith reads version %d (update kith on both devices)", ErrBadLists, v, ListsVersion)
	}
	var w wireLists
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return l, fmt.Errorf("%w: %v", ErrBadLists, err)
	}
	if len(w.Friends) > MaxListEntries || len(w.Groups) > MaxListEntries {
		return l, fmt.Errorf("%w: more than %d entries", ErrBadLists, MaxListEntries)
	}
	limit := uint64(now.UnixMilli()) + maxStampAhead
	var err error
	if l.Horizon, err = fromWire(w.Horizon, limit); err != nil {
		return Lists{}, fmt.Errorf("%w: horizon: %w", ErrBadLists, err)
	}
	seen := map[string]bool{}
	for _, e := range w.Friends {
		k, err := identity.PublicKeyFromBytes(e.Key)
		if err != nil {
			return Lists{}, fmt.Errorf("%w: friend: %v", ErrBadLists, err)
		}
		fe := FriendEntry{Removed: e.Removed}
		if !e.Removed {
			fe.Friend = e.Friend
		}
		fe.Key = k
		if fe.Stamp, err = entryStamp(e.Stamp, e.Removed, limit); err != nil {
			return Lists{}, fmt.Errorf("%w: friend %s: %w", ErrBadLists, k.Short(), err)
		}
		if err := CheckFriend(fe.Friend); err != nil {
			return Lists{}, fmt.Errorf("%w: friend %s: %w", ErrBadLists, k.Short(), err)
		}
		if seen["f"+string(k[:])] {
			return Lists{}, fmt.Errorf("%w: friend %s listed twice", ErrBadLists, k.Short())
		}
		seen["f"+string(k[:])] = true
		l.Friends = append(l.Friends, fe)
	}
	for _, e := range w.Groups {
		if err := CheckGroupName(e.Name); err != nil {
			return Lists{}, fmt.Errorf("%w: %w", ErrBadLists, err)
		}
		st, err := entryStamp(e.Stamp, e.Removed, limit)
		if err != nil {
			return Lists{}, fmt.Errorf("%w: group %q: %w", ErrBadLists, e.Name, err)
		}
		if seen["g"+e.Name] {
			return Lists{}, fmt.Errorf("%w: group %q listed twice", ErrBadLists, e.Name)
		}
		seen["g"+e.Name] = true
		l.Groups = append(l.Groups, GroupEntry{Name: e.Name, Stamp: st, Removed: e.Removed})
	}
	return l, nil
}

// entryStamp reads an entry's stamp: a removal must carry one.
func entryStamp(w wireStamp, removed bool, limit uint64) (Stamp, error) {
	st, err := fromWire(w, limit)
	if err == nil && removed && st.IsZero() {
		err = errors.New("a removal without a stamp")
	}
	return st, err
}

// fromWire reads a stamp: none at all, or a time with a device key, not past limit.
func fromWire(w wireStamp, limit uint64) (Stamp, error) {
	if w.MS == 0 && w.Dev == nil {
		return Stamp{}, nil
	}
	k, err := identity.PublicKeyFromBytes(w.Dev)
	if err != nil {
		return Stamp{}, fmt.Errorf("stamp: %w", err)
	}
	if w.MS == 0 {
		return Stamp{}, errors.New("stamp: a device key without a time")
	}
	if w.MS > limit {
		return Stamp{}, ErrStampAhead
	}
	return Stamp{MS: w.MS, Dev: k}, nil
}

// lists reads the person's lists: every friend and group with its stamp (zero when it
// has none), the tombstones, and the horizon.
func lists(tx *bolt.Tx) (Lists, error) {
	l := Lists{Horizon: horizon(tx)}
	fs, err := friends(tx)
	if err != nil {
		return l, err
	}
	present := map[string]bool{}
	for _, f := range fs {
		r, _ := stampOf(tx, friendStampKey(f.Key))
		l.Friends = append(l.Friends, FriendEntry{Friend: f, Stamp: r.Stamp})
		present[string(friendStampKey(f.Key))] = true
	}
	for _, g := range groups(tx) {
		r, _ := stampOf(tx, groupStampKey(g))
		l.Groups = append(l.Groups, GroupEntry{Name: g, Stamp: r.Stamp, Removed: r.Removed})
		present[string(groupStampKey(g))] = true
	}
	b := tx.Bucket(bListStamps)
	if b == nil {
		return l, nil
	}
	err = b.ForEach(func(k, v []byte) error {
		r, ok := decodeStampRec(v)
		if !ok || !r.Removed || present[string(k)] {
			return nil
		}
		switch {
		case k[0] == 'f' && len(k) == 1+len(identity.PublicKey{}):
			var fk identity.PublicKey
			copy(fk[:], k[1:])
			l.Friends = append(l.Friends, FriendEntry{Friend: Friend{Key: fk}, Stamp: r.Stamp, Removed: true})
		case k[0] == 'g':
			l.Groups = append(l.Groups, GroupEntry{Name: string(k[1:]), Stamp: r.Stamp, Removed: true})
		}
		return nil
	})
	return l, err
}

// mergeLists applies another device's friend and group entries that are later writes
// than what this device holds (takes), through the same paths as a local write or
// removal, then raises the horizon to the serving device's and prunes tombstones. It
// returns how many friends it removed.
func (s *Store) mergeLists(tx *bolt.Tx, l Lists) (int, error) {
	hz := horizon(tx)
	removed := 0
	for _, e := range l.Friends {
		if s.hasSelf && e.Key == s.self {
			continue
		}
		key := friendStampKey(e.Key)
		rec, stamped := stampOf(tx, key)
		held, present := friendOf(tx, e.Key)
		if !takes(stampRec{Stamp: e.Stamp, Removed: e.Removed}, rec, stamped, present, hz) {
			continue
		}
		switch {
		case e.Removed && present:
			if err := s.removeFriendLocked(tx, e.Key); err != nil {
				return removed, err
			}
			removed++
		case !e.Removed && !(present && sameFriend(held, e.Friend)):
			if err := s.putFriendLocked(tx, e.Friend); err != nil {
				return removed, err
			}
		}
		if err := putStampIfAny(tx, key, stampRec{Stamp: e.Stamp, Removed: e.Removed}); err != nil {
			return removed, err
		}
	}
	for _, e := range l.Groups {
		key := groupStampKey(e.Name)
		rec, stamped := stampOf(tx, key)
		present := tx.Bucket(bGroups).Get([]byte(e.Name)) != nil
		if !takes(stampRec{Stamp: e.Stamp, Removed: e.Removed}, rec, stamped, present, hz) {
			continue
		}
		if !e.Removed && !present {
			if err := tx.Bucket(bGroups).Put([]byte(e.Name), nil); err != nil {
				return removed, err
			}
			if err := s.touchKitLocked(tx); err != nil {
				return removed, err
			}
		}
		if err := putStampIfAny(tx, key, stampRec{Stamp: e.Stamp, Removed: e.Removed}); err != nil {
			return removed, err
		}
	}
	if err := s.settleGroups(tx); err != nil {
		return removed, err
	}
	if err := raiseHorizon(tx, l.Horizon); err != nil {
		return removed, err
	}
	return removed, pruneTombstones(tx)
}

func putStampIfAny(tx *bolt.Tx, key []byte, r stampRec) error {
	if r.IsZero() {
		return nil
	}
	return putStamp(tx, key, r)
}

// settleGroups deletes every group whose latest write is a removal and that no friend
// is in any more, whatever order the writes arrived in.
func (s *Store) settleGroups(tx *bolt.Tx) error {
	b := tx.Bucket(bListStamps)
	if b == nil {
		return nil
	}
	var gone []string
	c := b.Cursor()
	for k, v := c.Seek([]byte{'g'}); k != nil && k[0] == 'g'; k, v = c.Next() {
		if r, ok := decodeStampRec(v); ok && r.Removed {
			gone = append(gone, string(k[1:]))
		}
	}
	for _, g := range gone {
		if err := s.removeGroupLocked(tx, g); err != nil {
			return err
		}
	}
	return nil
}
