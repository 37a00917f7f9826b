package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// ownMeta is what the author keeps about an own post and never signs.
type ownMeta struct {
	Audience feed.Audience `json:"audience"`
	Shared   feed.Shared   `json:"shared"`
}

// Stored is a post as the store holds it: the envelope exactly as signed, and its payload.
type Stored struct {
	Envelope *signedv1.Envelope
	Payload  *postv1.Payload
	// Audience is set for own posts only.
	Audience feed.Audience
	// EverPublic is set for own posts only: some version of the post was public.
	EverPublic bool
}

// ID returns the post's id.
func (p Stored) ID() post.ID {
	var id post.ID
	copy(id[:], p.Payload.GetId())
	return id
}

// NewPost is what Publish needs for a new post.
type NewPost struct {
	// Text is the post's text.
	Text string
	// Attachments name blobs already in the store (PutBlob).
	Attachments []*postv1.Attachment
	// Audience is who may see it; feed.Default() (all friends) when zero.
	Audience feed.Audience
	// Mentions are the people the text mentions (signed in the post).
	Mentions []identity.PublicKey
}

// Publish signs and stores a new own post and returns its id.
func (s *Store) Publish(np NewPost) (post.ID, error) {
	var id post.ID
	k, err := s.Signer()
	if err != nil {
		return id, err
	}
	if np.Audience.IsZero() {
		np.Audience = feed.Default()
	}
	env, p, err := k.Seal(post.Draft{Now: s.now(), Text: np.Text, Attachments: np.Attachments, Public: np.Audience.Public, Mentions: np.Mentions})
	if err != nil {
		return id, fmt.Errorf("publish: %w", err)
	}
	copy(id[:], p.Id)
	err = s.update(func(tx *bolt.Tx) error {
		if err := s.checkAudience(tx, np.Audience); err != nil {
			return err
		}
		if err := checkBlobs(tx, p.Attachments); err != nil {
			return err
		}
		return s.putOwn(tx, k.Person, env, p, np.Audience, nil)
	})
	if err != nil {
		return post.ID{}, fmt.Errorf("publish: %w", err)
	}
	return id, nil
}

// PublishMany stores many new own posts in one transaction (seeding tests and benchmarks).
func (s *Store) PublishMany(nps []NewPost) ([]post.ID, error) {
	k, err := s.Signer()
	if err != nil {
		return nil, err
	}
	ids := make([]post.ID, len(nps))
	err = s.update(func(tx *bolt.Tx) error {
		for i, np := range nps {
			if np.Audience.IsZero() {
				np.Audience = feed.Default()
			}
			if err := s.checkAudience(tx, np.Audience); err != nil {
				return err
			}
			env, p, err := k.Seal(post.Draft{Now: s.now(), Text: np.Text, Attachments: np.Attachments, Public: np.Audience.Public, Mentions: np.Mentions})
			if err != nil {
				return err
			}
			if err := checkBlobs(tx, p.Attachments); err != nil {
				return err
			}
			copy(ids[i][:], p.Id)
			if err := s.putOwn(tx, k.Person, env, p, np.Audience, nil); err != nil {
				return err
			}
		}
		return nil
	})
	return ids, err
}

// Edit replaces an own post's text (and hashtags) and the people it mentions, bumping
// its version.
func (s *Store) Edit(id post.ID, text string, mentions ...identity.PublicKey) error {
	return s.change(id, "edit", func(d *post.Draft, _ *feed.Audience) { d.Text, d.Mentions = text, mentions })
}

// Delete replaces an own post by a signed tombstone; friends who saw it drop it.
func (s *Store) Delete(id post.ID) error {
	return s.change(id, "delete", func(d *post.Draft, _ *feed.Audience) {
		d.Text, d.Attachments, d.Mentions, d.Deleted = "", nil, nil, true
	})
}

// SetAudience changes who may see an own post. Friends who lose access get a revocation.
func (s *Store) SetAudience(id post.ID, a feed.Audience) error {
	return s.change(id, "set audience", func(d *post.Draft, aud *feed.Audience) {
		*aud = a
		d.Public = a.Public
	})
}

// change re-signs an own post after edit applied its changes, in one transaction.
func (s *Store) change(id post.ID, op string, edit func(*post.Draft, *feed.Audience)) error {
	k, err := s.Signer()
	if err != nil {
		return err
	}
	err = s.update(func(tx *bolt.Tx) error {
		old, err := s.get(tx, k.Person, id)
		if err != nil {
			return err
		}
		if old.Payload.GetDeleted() {
			return fmt.Errorf("post %s is deleted", id)
		}
		meta, err := getMeta(tx, id)
		if err != nil {
			return err
		}
		prevAudience := meta.Audience
		d := post.Draft{
			ID: id, Version: old.Payload.GetVersion() + 1, Now: s.now(),
			Created:     timeMs(old.Payload.GetCreatedUnixMs()),
			Text:        old.Payload.GetText(),
			Attachments: old.Payload.GetAttachments(),
			Public:      old.Payload.GetVisibility() == postv1.Visibility_VISIBILITY_PUBLIC,
		}
		for _, m := range old.Payload.GetMentions() {
			d.Mentions = append(d.Mentions, identity.PublicKey(m))
		}
		edit(&d, &meta.Audience)
		if err := s.checkAudience(tx, meta.Audience); err != nil {
			return err
		}
		env, p, err := k.Seal(d)
		if err != nil {
			return err
		}
		vs, err := viewers(tx)
		if err != nil {
			return err
		}
		meta.Shared.Add(prevAudience, vs)
		return s.putOwn(tx, k.Person, env, p, meta.Audience, &meta.Shared)
	})
	if err != nil {
		return fmt.Errorf("%s post %s: %w", op, id, err)
	}
	return nil
}

func (s *Store) checkAudience(tx *bolt.Tx, a feed.Audience) error {
	return feed.Check(a, groups(tx), func(id identity.ID) bool {
		k, err := identity.ParseID(string(id))
		return err == nil && tx.Bucket(bFriends).Get(k[:]) != nil
	})
}

// putOwn stores an own post version, its metadata and a new changes-log entry.
func (s *Store) putOwn(tx *bolt.Tx, me identity.PublicKey, env *signedv1.Envelope, p *postv1.Payload, a feed.Audience, shared *feed.Shared) error {
	var id post.ID
	copy(id[:], p.Id)
	if err := putPost(tx, me, id, p, env); err != nil {
		return err
	}
	meta := ownMeta{Audience: a}
	if shared != nil {
		meta.Shared = *shared
	}
	vs, err := viewers(tx)
	if err != nil {
		return err
	}
	meta.Shared.Add(a, vs)
	if err := putMeta(tx, id, meta); err != nil {
		return err
	}
	if err := tx.Bucket(bKitPosts).Delete(id[:]); err != nil {
		return err
	}
	if err := s.touchKitLocked(tx); err != nil {
		return err
	}
	for _, att := range p.Attachments {
		if err := tx.Bucket(bBlobRefs).Put(append(append([]byte(nil), att.Sha256...), id[:]...), nil); err != nil {
			return err
		}
	}
	return sequence(tx, id)
}

// sequence gives a post the next sequence number, dropping its previous entry.
func sequence(tx *bolt.Tx, id post.ID) error {
	changes, ps := tx.Bucket(bChanges), tx.Bucket(bPostSeq)
	if old := ps.Get(id[:]); old != nil {
		if err := changes.Delete(old); err != nil {
			return err
		}
	}
	seq, err := changes.NextSequence()
	if err != nil {
		return err
	}
	if err := changes.Put(u64(seq), id[:]); err != nil {
		return err
	}
	return ps.Put(id[:], u64(seq))
}

// resequenceFor gives a new sequence number to every own post whose visibility differs
// between two views of one key (a friend added, removed or regrouped), recording that the
// key saw what it could see under either.
func (s *Store) resequenceFor(tx *bolt.Tx, before, after feed.Viewer) error {
	type hit struct {
		id   post.ID
		meta ownMeta
	}
	var hits []hit
	err := tx.Bucket(bOwnMeta).ForEach(func(k, v []byte) error {
		var m ownMeta
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("post %x: corrupt metadata: %w", k, err)
		}
		if feed.Visible(m.Audience, before) == feed.Visible(m.Audience, after) {
			return nil
		}
		h := hit{meta: m}
		copy(h.id[:], k)
		h.meta.Shared.Add(m.Audience, []feed.Viewer{before, after})
		hits = append(hits, h)
		return nil
	})
	if err != nil {
		return err
	}
	for _, h := range hits {
		if err := putMeta(tx, h.id, h.meta); err != nil {
			return err
		}
		if err := sequence(tx, h.id); err != nil {
			return err
		}
	}
	return nil
}

func putMeta(tx *bolt.Tx, id post.ID, m ownMeta) error {
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return tx.Bucket(bOwnMeta).Put(id[:], v)
}

func getMeta(tx *bolt.Tx, id post.ID) (ownMeta, error) {
	var m ownMeta
	v := tx.Bucket(bOwnMeta).Get(id[:])
	if v == nil {
		return m, fmt.Errorf("post %s: %w", id, ErrNotFound)
	}
	if err := json.Unmarshal(v, &m); err != nil {
		return m, fmt.Errorf("post %s: corrupt metadata: %w", id, err)
	}
	return m, nil
}

func postKey(author identity.PublicKey, id post.ID) []byte {
	return append(append(make([]byte, 0, 48), author[:]...), id[:]...)
}

func putPost(tx *bolt.Tx, author identity.PublicKey, id post.ID, p *postv1.Payload, env *signedv1.Envelope) error {
	b, err := proto.Marshal(env)
	if err != nil {
		return err
	}
	k := postKey(author, id)
	if err := tx.Bucket(bPosts).Put(k, append(u64(p.GetVersion()), b...)); err != nil {
		return err
	}
	return putHeldRefs(tx, k, p)
}

// putHeldRefs indexes a held post's attachments under key (author || id).
func putHeldRefs(tx *bolt.Tx, key []byte, p *postv1.Payload) error {
	for _, a := range p.GetAttachments() {
		if err := tx.Bucket(bHeld).Put(append(append([]byte(nil), a.GetSha256()...), key...), nil); err != nil {
			return err
		}
	}
	return nil
}

// storedVersion returns the version of a stored post, 0 when absent.
func storedVersion(tx *bolt.Tx, author identity.PublicKey, id post.ID) uint64 {
	return getU64(prefix8(tx.Bucket(bPosts).Get(postKey(author, id))))
}

func prefix8(b []byte) []byte {
	if len(b) < 8 {
		return nil
	}
	return b[:8]
}

func decodeStored(v []byte) (Stored, error) {
	if len(v) < 8 {
		return Stored{}, errors.New("corrupt post entry")
	}
	env := new(signedv1.Envelope)
	if err := proto.Unmarshal(v[8:], env); err != nil {
		return Stored{}, fmt.Errorf("corrupt post entry: %w", err)
	}
	p := new(postv1.Payload)
	if err := proto.Unmarshal(env.GetPayload(), p); err != nil {
		return Stored{}, fmt.Errorf("corrupt post entry: %w", err)
	}
	return Stored{Envelope: env, Payload: p}, nil
}

func (s *Store) get(tx *bolt.Tx, author identity.PublicKey, id post.ID) (Stored, error) {
	v := tx.Bucket(bPosts).Get(postKey(author, id))
	if v == nil {
		return Stored{}, fmt.Errorf("post %s by %s: %w", id, author.Short(), ErrNotFound)
	}
	return decodeStored(v)
}

// Post returns one stored post (own posts with their audience).
func (s *Store) Post(author identity.PublicKey, id post.ID) (Stored, error) {
	var st Stored
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		if st, err = s.get(tx, author, id); err != nil {
			return err
		}
		s.withOwnMeta(tx, &st)
		return nil
	})
	return st, err
}

// withOwnMeta fills in the local metadata of an own post: its audience and whether it
// was ever public. Friends' posts have none.
func (s *Store) withOwnMeta(tx *bolt.Tx, st *Stored) {
	if !s.hasSelf || string(st.Payload.GetAuthor()) != string(s.self[:]) {
		return
	}
	if m, err := getMeta(tx, st.ID()); err == nil {
		st.Audience, st.EverPublic = m.Audience, m.Shared.Public
	}
}

// Posts calls fn for every stored post, own and friends', tombstones included, until fn
// returns false. Author is nil for every author.
func (s *Store) Posts(author *identity.PublicKey, fn func(Stored) bool) error {
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bPosts).Cursor()
		var pfx []byte
		if author != nil {
			pfx = author[:]
		}
		for k, v := c.Seek(pfx); k != nil && hasPrefix(k, pfx); k, v = c.Next() {
			st, err := decodeStored(v)
			if err != nil {
				return fmt.Errorf("post %x: %w", k, err)
			}
			s.withOwnMeta(tx, &st)
			if !fn(st) {
				return nil
			}
		}
		return nil
	})
}

// PostByID returns the held post with this id, whoever wrote it (the first in key
// order), reading the keys alone until it is found: a thread or a reply names a post by
// its id, and decoding every held post to find one would cost a full scan.
func (s *Store) PostByID(id post.ID) (Stored, error) {
	var st Stored
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bPosts).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) != 32+post.IDSize || string(k[32:]) != string(id[:]) {
				continue
			}
			var err error
			if st, err = decodeStored(v); err != nil {
				return fmt.Errorf("post %x: %w", k, err)
			}
			s.withOwnMeta(tx, &st)
			return nil
		}
		return fmt.Errorf("post %s: %w", id, ErrNotFound)
	})
	return st, err
}

// CountPosts returns how many posts (tombstones included) the store holds by author.
func (s *Store) CountPosts(author identity.PublicKey) (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bPosts).Cursor()
		for k, _ := c.Seek(author[:]); k != nil && hasPrefix(k, author[:]); k, _ = c.Next() {
			n++
		}
		return nil
	})
	return n, err
}

func hasPrefix(k, p []byte) bool { return len(k) >= len(p) && string(k[:len(p)]) == string(p) }

func seqOf(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

func timeMs(ms int64) time.Time { return time.UnixMilli(ms) }

// supersedes reports whether v replaces what this home holds of (author, id): a higher
// version, or the same version signed by a key with a larger fingerprint. The second
// case is two devices of one person that edited the post while apart (issue 16): every
// node orders the pair by shared/device.Newer, so all keep the same version.
func supersedes(tx *bolt.Tx, author identity.PublicKey, id post.ID, v Verified) bool {
	held := tx.Bucket(bPosts).Get(postKey(author, id))
	if len(held) < 8 {
		return true
	}
	hv, nv := getU64(held[:8]), v.Payload.GetVersion()
	if hv != nv {
		return nv > hv
	}
	env := new(signedv1.Envelope)
	if err := proto.Unmarshal(held[8:], env); err != nil {
		return false
	}
	hs, err := identity.PublicKeyFromBytes(env.GetSigner())
	if err != nil {
		return false
	}
	ns, err := identity.PublicKeyFromBytes(v.Envelope.GetSigner())
	if err != nil {
		return false
	}
	return device.Newer(nv, ns, hv, hs)
}
