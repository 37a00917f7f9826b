package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/recovery"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
	"google.golang.org/protobuf/proto"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
)

// summaryRunes is how much of a lost post's text a kit keeps to name it.
const summaryRunes = 60

// kitPost is what a restored recovery kit said about an own post that is not (yet) held
// here: the audience it gets when it comes back, and how to name it if it never does.
type kitPost struct {
	Audience feed.Audience `json:"audience"`
	Shared   feed.Shared   `json:"shared"`
	Created  int64         `json:"created"`
	Summary  string        `json:"summary,omitempty"`
}

// touchKitLocked records that something a recovery kit holds changed (friends, groups,
// the name, an own post's audience), so the next kit is newer and is pushed to friends.
// The revision is a Unix millisecond time that only moves forward.
func (s *Store) touchKitLocked(tx *bolt.Tx) error {
	meta := tx.Bucket(bMeta)
	rev := max(s.now().UnixMilli(), int64(getU64(meta.Get([]byte("kitrev"))))+1)
	return meta.Put([]byte("kitrev"), u64(uint64(rev)))
}

// KitRevision returns the revision of what the recovery kit holds (OwnKit's Created).
func (s *Store) KitRevision() (time.Time, error) {
	var rev int64
	err := s.db.View(func(tx *bolt.Tx) error {
		rev = int64(getU64(tx.Bucket(bMeta).Get([]byte("kitrev"))))
		return nil
	})
	return time.UnixMilli(rev), err
}

// KitChanged returns a channel closed at the next change of what the recovery kit holds.
func (s *Store) KitChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kitChanged
}

// OwnKit returns what this home's recovery kit holds, read in one transaction: friends,
// groups, the name, and every own post's audience (posts a restored kit named that never
// came back too, so they stay named). Created is the kit's revision: two kits of the same
// revision hold the same.
func (s *Store) OwnKit() (recovery.Kit, error) {
	var kit recovery.Kit
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		kit = recovery.Kit{Name: string(meta.Get([]byte("name"))), Groups: groups(tx), LastSeq: tx.Bucket(bChanges).Sequence(),
			Created: time.UnixMilli(int64(getU64(meta.Get([]byte("kitrev")))))}
		fs, err := friends(tx)
		if err != nil {
			return err
		}
		for _, f := range fs {
			kit.Friends = append(kit.Friends, recovery.Friend{Key: f.Key, Name: f.Name, Addr: f.Addr, Groups: f.Groups})
		}
		if err := s.kitDevices(tx, &kit); err != nil {
			return err
		}
		if err := tx.Bucket(bOwnMeta).ForEach(func(k, v []byte) error {
			p, err := s.ownKitPost(tx, k, v)
			kit.Posts = append(kit.Posts, p)
			return err
		}); err != nil {
			return err
		}
		return tx.Bucket(bKitPosts).ForEach(func(k, v []byte) error {
			var kp kitPost
			if err := json.Unmarshal(v, &kp); err != nil {
				return fmt.Errorf("kit post %x: %w: %v", k, ErrCorrupt, err)
			}
			id, _ := post.ParseID(k)
			kit.Posts = append(kit.Posts, recovery.Post{ID: id, Audience: kp.Audience, Shared: kp.Shared, Created: time.UnixMilli(kp.Created), Summary: kp.Summary})
			return nil
		})
	})
	if err != nil {
		return recovery.Kit{}, fmt.Errorf("recovery kit: %w", err)
	}
	return kit, nil
}

// kitDevices adds the device list and this person's revocations to kit (issue 16), so
// that a recovered identity knows its devices: it can revoke a lost one.
func (s *Store) kitDevices(tx *bolt.Tx, kit *recovery.Kit) error {
	if b := tx.Bucket(bDevices); b != nil {
		if err := b.ForEach(func(k, v []byte) error {
			d, err := decodeDevice(k, v)
			kit.Devices = append(kit.Devices, recovery.Device{Key: d.Key, Name: d.Name, Certificate: d.Certificate, Revoked: d.Revoked})
			return err
		}); err != nil {
			return err
		}
	}
	b := tx.Bucket(bRevoked)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	for k, v := c.Seek(s.self[:]); k != nil && bytes.HasPrefix(k, s.self[:]); k, v = c.Next() {
		env := &signedv1.Envelope{}
		if err := proto.Unmarshal(v, env); err != nil {
			return fmt.Errorf("held revocation %x: %w: %v", k, ErrCorrupt, err)
		}
		kit.Revocations = append(kit.Revocations, env)
	}
	return nil
}

// restoreDevices keeps the devices and revocations a restored kit names: a device this
// home lists already keeps its entry (but a kit's revoked mark sticks), a new one is
// added while the list has room. Kit.Open checked every certificate and revocation.
func (s *Store) restoreDevices(tx *bolt.Tx, kit recovery.Kit) error {
	for _, env := range kit.Revocations {
		r, err := device.OpenRevocation(env, s.self)
		if err != nil {
			continue // not this person's: a kit is the person's own, but skip, not stop
		}
		raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(env)
		if err != nil {
			return err
		}
		if _, err := putRevocationLocked(tx, s.self, r, raw); err != nil {
			return err
		}
	}
	b, err := tx.CreateBucketIfNotExists(bDevices)
	if err != nil {
		return err
	}
	for _, d := range kit.Devices {
		held := b.Get(d.Key[:])
		switch {
		case held != nil:
			h, err := decodeDevice(d.Key[:], held)
			if err != nil || !d.Revoked || h.Revoked {
				continue
			}
			h.Revoked = true
			if err := putDevice(b, h); err != nil {
				return err
			}
		case b.Stats().KeyN < MaxDevices:
			if _, taken := deviceNamed(b, d.Name); taken {
				d.Name += " (recovered)"
			}
			if err := putDevice(b, Device{Key: d.Key, Name: d.Name, Certificate: d.Certificate, Revoked: d.Revoked}); err != nil {
				return err
			}
		}
	}
	return nil
}

// ownKitPost is a held own post's kit entry.
func (s *Store) ownKitPost(tx *bolt.Tx, k, v []byte) (recovery.Post, error) {
	var m ownMeta
	if err := json.Unmarshal(v, &m); err != nil {
		return recovery.Post{}, fmt.Errorf("post %x: corrupt metadata: %w", k, err)
	}
	id, err := post.ParseID(k)
	if err != nil {
		return recovery.Post{}, fmt.Errorf("post %x: %w", k, ErrCorrupt)
	}
	p := recovery.Post{ID: id, Audience: m.Audience, Shared: m.Shared}
	if st, err := s.get(tx, s.self, id); err == nil {
		p.Created = time.UnixMilli(st.Payload.GetCreatedUnixMs())
		if forNobodyElse(m.Audience) && !st.Payload.GetDeleted() {
			p.Summary = summary(st.Payload)
		}
	}
	return p, nil
}

// forNobodyElse reports whether no friend can hold a post with audience a.
func forNobodyElse(a feed.Audience) bool {
	return !a.Friends && !a.Public && len(a.Groups) == 0 && len(a.People) == 0
}

func summary(p *postv1.Payload) string {
	t := p.GetText()
	if utf8.RuneCountInString(t) <= summaryRunes {
		return t
	}
	r := []rune(t)
	return string(r[:summaryRunes]) + "…"
}

// RestoreKit brings back what a recovery kit holds, in one transaction: the name when
// none is set, the groups, the friends not known yet (an entry made since is kept), and
// the audience of every own post the kit names, for Recovered to give it. Only the
// kit's friends are added: a friend removed before the kit was made stays removed.
// helperAddr, when set, replaces the kit's address for helper: it just worked.
func (s *Store) RestoreKit(kit recovery.Kit, helper identity.PublicKey, helperAddr string) error {
	return s.update(func(tx *bolt.Tx) error {
		// Continue the lost home's changes feed, so friends whose cursors are there see
		// what comes back and what comes next.
		if ch := tx.Bucket(bChanges); kit.LastSeq > ch.Sequence() {
			if err := ch.SetSequence(kit.LastSeq); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bMeta)
		if kit.Name != "" && len(meta.Get([]byte("name"))) == 0 {
			if err := meta.Put([]byte("name"), []byte(kit.Name)); err != nil {
				return err
			}
		}
		for _, g := range kit.Groups {
			if CheckGroupName(g) != nil {
				continue // a kit is the person's own, but a bad name must not stop recovery
			}
			if err := tx.Bucket(bGroups).Put([]byte(g), nil); err != nil {
				return err
			}
		}
		for _, kf := range kit.Friends {
			f := Friend{Key: kf.Key, Name: kf.Name, Addr: kf.Addr, Groups: kf.Groups}
			if kf.Key == helper && helperAddr != "" {
				f.Addr = helperAddr
			}
			if _, ok := friendOf(tx, f.Key); ok || (s.hasSelf && f.Key == s.self) || CheckFriend(f) != nil {
				continue
			}
			if err := s.putFriendLocal(tx, f); err != nil {
				return err
			}
		}
		for _, p := range kit.Posts {
			if tx.Bucket(bOwnMeta).Get(p.ID[:]) != nil {
				continue // what this home knows now beats the kit
			}
			v, err := json.Marshal(kitPost{Audience: p.Audience, Shared: p.Shared, Created: p.Created.UnixMilli(), Summary: p.Summary})
			if err != nil {
				return err
			}
			if err := tx.Bucket(bKitPosts).Put(p.ID[:], v); err != nil {
				return err
			}
		}
		if err := s.restoreDevices(tx, kit); err != nil {
			return err
		}
		// The kit made now must be newer than the one restored, even when this machine's
		// clock is behind the lost one's: friends keep only a newer kit.
		if prev := int64(getU64(meta.Get([]byte("kitrev")))); kit.Created.UnixMilli() > prev {
			if err := meta.Put([]byte("kitrev"), u64(uint64(kit.Created.UnixMilli()))); err != nil {
				return err
			}
		}
		return s.touchKitLocked(tx)
	})
}

// LostPost is an own post a restored kit names that is not held here.
type LostPost struct {
	ID       post.ID
	Audience feed.Audience
	Created  time.Time
	Summary  string
}

// LostPosts lists the own posts a restored kit named that no friend gave back, oldest
// first.
func (s *Store) LostPosts() ([]LostPost, error) {
	var out []LostPost
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bKitPosts).ForEach(func(k, v []byte) error {
			var kp kitPost
			if err := json.Unmarshal(v, &kp); err != nil {
				return fmt.Errorf("kit post %x: %w: %v", k, ErrCorrupt, err)
			}
			id, _ := post.ParseID(k)
			out = append(out, LostPost{ID: id, Audience: kp.Audience, Created: time.UnixMilli(kp.Created), Summary: kp.Summary})
			return nil
		})
	})
	slices.SortFunc(out, func(a, b LostPost) int { return a.Created.Compare(b.Created) })
	return out, err
}
