package store

import (
	"encoding/json"
	"fmt"
	"math"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Own-device sync (issue 16; docs/DESIGN.md "Own-device sync"). A device of the
// person pulls another like a friend that may see everything: the own posts from the
// global changes log, in order, each with its audience (local metadata, not in the
// signed payload), and the friend list, groups, device list. What a device applies it
// keeps under a cursor per device key (bCursors, as friends' cursors), so a crash
// neither loses nor repeats. A post replaces the held version only when it supersedes
// it (device.Newer), so two devices that edited apart converge, and a version a device
// already holds makes no new log entry (no echo between devices).

// OwnEntry is one own post as another device serves it.
type OwnEntry struct {
	// Envelope is the post as signed.
	Envelope *signedv1.Envelope
	// Audience is who may see it.
	Audience feed.Audience
}

// OwnPage is one page of own changes and the person's lists.
type OwnPage struct {
	Posts   []OwnEntry
	Last    uint64
	More    bool
	Lists   Lists
	Devices []Device
}

// wireDevice carries the key the store's JSON leaves out.
type wireDevice struct {
	Key []byte `json:"key"`
	Device
}

// MarshalDevices encodes a device list for OwnChanges.
func MarshalDevices(ds []Device) ([]byte, error) {
	w := make([]wireDevice, len(ds))
	for i, d := range ds {
		d.LastSeen = d.LastSeen.UTC()
		w[i] = wireDevice{Key: d.Key[:], Device: d}
	}
	return json.Marshal(w)
}

// ParseDevices decodes a device list of OwnChanges.
func ParseDevices(b []byte) ([]Device, error) {
	var w []wireDevice
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("device list: %w", err)
	}
	if len(w) > MaxDevices {
		return nil, fmt.Errorf("device list: %w", ErrTooManyDevices)
	}
	out := make([]Device, 0, len(w))
	for _, d := range w {
		k, err := identity.PublicKeyFromBytes(d.Key)
		if err != nil {
			return nil, fmt.Errorf("device list: %w", err)
		}
		d.Device.Key = k
		out = append(out, d.Device)
	}
	return out, nil
}

// OwnSince returns up to limit own posts changed after since, from the global log, and
// the person's lists: what another device of the person pulls.
func (s *Store) OwnSince(since uint64, limit int) (OwnPage, error) {
	var pg OwnPage
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		if pg.Lists, err = lists(tx); err != nil {
			return err
		}
		pg.Last = since
		if since == math.MaxUint64 {
			return nil
		}
		c := tx.Bucket(bChanges).Cursor()
		for k, id := c.Seek(u64(since + 1)); k != nil; k, id = c.Next() {
			if len(pg.Posts) >= limit {
				pg.More = true
				return nil
			}
			pg.Last = seqOf(k)
			var pid post.ID
			copy(pid[:], id)
			st, err := s.get(tx, s.self, pid)
			if err != nil {
				return err
			}
			m, err := getMeta(tx, pid)
			if err != nil {
				return err
			}
			pg.Posts = append(pg.Posts, OwnEntry{Envelope: st.Envelope, Audience: m.Audience})
		}
		if seq := tx.Bucket(bChanges).Sequence(); seq > pg.Last {
			pg.Last = seq
		}
		return nil
	})
	if err != nil {
		return pg, err
	}
	pg.Devices, err = s.Devices()
	return pg, err
}

// OwnVerified is an own post whose chain the caller verified (post.OpenChain).
type OwnVerified struct {
	Envelope *signedv1.Envelope
	Payload  *postv1.Payload
	Audience feed.Audience
}

// OwnBatch is what ApplyOwn stores from device dev.
type OwnBatch struct {
	Posts   []OwnVerified
	Lists   Lists
	Devices []Device
	// Conversations are the serving device's conversations of posts of this batch
	// (convosync.go), merged after the posts.
	Conversations []HeldConversation
	// Cursor is the serving device's Last.
	Cursor uint64
}

// OwnApplied says what one ApplyOwn changed.
type OwnApplied struct {
	// Posts is how many posts it stored.
	Posts int
	// Removed is how many friends it removed (each rotated the reachability key).
	Removed int
}

// ApplyOwn stores what another device of the person served, in one transaction: the
// friend and group writes later than those it holds, removals included (mergeLists),
// devices it does not know and revoked marks, the posts that supersede what it holds,
// the conversations of own posts merged record by record (convosync.go), and the
// cursor for dev.
func (s *Store) ApplyOwn(dev identity.PublicKey, b OwnBatch) (OwnApplied, error) {
	if !s.hasSelf {
		return OwnApplied{}, ErrNoIdentity
	}
	var res OwnApplied
	err := s.updateBlobs(func(tx *bolt.Tx, orphans *[][]byte) error {
		res = OwnApplied{}
		if cur := getU64(tx.Bucket(bCursors).Get(dev[:])); b.Cursor < cur {
			return nil // an older answer than one applied already
		}
		var err error
		if res.Removed, err = s.mergeLists(tx, b.Lists); err != nil {
			return err
		}
		if err := mergeDevices(tx, b.Devices); err != nil {
			return err
		}
		for _, v := range b.Posts {
			var id post.ID
			copy(id[:], v.Payload.GetId())
			if !supersedes(tx, s.self, id, Verified{Envelope: v.Envelope, Payload: v.Payload}) {
				continue
			}
			var shared *feed.Shared
			if m, err := getMeta(tx, id); err == nil {
				shared = &m.Shared
				shared.Add(m.Audience, mustViewers(tx))
			}
			if err := s.putOwn(tx, s.self, v.Envelope, v.Payload, v.Audience, shared); err != nil {
				return err
			}
			res.Posts++
		}
		if err := s.mergeOwnConversations(tx, b.Conversations, orphans); err != nil {
			return err
		}
		return tx.Bucket(bCursors).Put(dev[:], u64(b.Cursor))
	})
	return res, err
}

func mustViewers(tx *bolt.Tx) []feed.Viewer {
	vs, _ := viewers(tx)
	return vs
}

// mergeDevices applies another device's device list: devices it does not know and
// revoked marks (a revocation is never undone).
func mergeDevices(tx *bolt.Tx, ds []Device) error {
	db, err := tx.CreateBucketIfNotExists(bDevices)
	if err != nil {
		return err
	}
	// Counted by hand: bucket statistics leave out what this transaction wrote, so a
	// single answer could otherwise grow the list past MaxDevices.
	n := 0
	db.ForEach(func(_, _ []byte) error { n++; return nil })
	for _, d := range ds {
		held, herr := decodeDevice(d.Key[:], db.Get(d.Key[:]))
		switch {
		case db.Get(d.Key[:]) == nil:
			if n >= MaxDevices {
				continue
			}
			if err := putDevice(db, Device{Key: d.Key, Name: d.Name, Certificate: d.Certificate, Revoked: d.Revoked, Addr: d.Addr}); err != nil {
				return err
			}
			n++
		case herr == nil && d.Revoked && !held.Revoked:
			held.Revoked = true
			if err := putDevice(db, held); err != nil {
				return err
			}
		}
	}
	return nil
}

func sameFriend(a, b Friend) bool {
	if a.Name != b.Name || a.Addr != b.Addr || len(a.Groups) != len(b.Groups) {
		return false
	}
	for i := range a.Groups {
		if a.Groups[i] != b.Groups[i] {
			return false
		}
	}
	return true
}

// SetDeviceAddr keeps the address own device k was last reached at (or reached us
// from), so the other devices can dial it in direct mode.
func (s *Store) SetDeviceAddr(k identity.PublicKey, addr string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bDevices)
		if b == nil || b.Get(k[:]) == nil {
			return nil
		}
		d, err := decodeDevice(k[:], b.Get(k[:]))
		if err != nil || d.Addr == addr {
			return err
		}
		d.Addr = addr
		return putDevice(b, d)
	})
}
