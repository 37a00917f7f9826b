package store

import (
	"errors"
	"fmt"
	"math"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Change is one entry of the changes feed as a viewer may see it.
type Change struct {
	Seq     uint64
	Kind    feed.Kind // feed.Post or feed.Revoked
	ID      post.ID
	Version uint64 // 0 for a revocation
}

// Page is an answer to Changes.
type Page struct {
	Changes []Change
	// Last is the last sequence number examined, visible or not.
	Last uint64
	// More is true when entries after Last remain.
	More bool
}

// scanFactor bounds how many hidden entries one Changes call examines per visible one.
const scanFactor = 16

// Changes returns up to limit entries after since that viewer may see, from the
// viewer's own view of the log (views.go): its numbers, Last and More depend only on what
// the viewer may see. The home's own key reads the global log.
func (s *Store) Changes(viewer identity.PublicKey, since uint64, limit int) (Page, error) {
	if !s.hasSelf || viewer != s.self {
		var pg Page
		err := s.db.View(func(tx *bolt.Tx) error {
			var err error
			pg, err = viewChanges(tx, viewer, since, limit)
			return err
		})
		return pg, err
	}
	var pg Page
	err := s.db.View(func(tx *bolt.Tx) error {
		v := s.viewerOf(tx, viewer)
		me := s.self
		pg.Last = since
		if since == math.MaxUint64 {
			return nil // nothing can follow, and since+1 would wrap to the start
		}
		c := tx.Bucket(bChanges).Cursor()
		examined := 0
		k, id := c.Seek(u64(since + 1))
		for ; k != nil; k, id = c.Next() {
			if len(pg.Changes) >= limit || examined >= limit*scanFactor {
				pg.More = true
				return nil
			}
			examined++
			pg.Last = seqOf(k)
			var pid post.ID
			copy(pid[:], id)
			m, err := getMeta(tx, pid)
			if err != nil {
				return err
			}
			switch feed.Decide(m.Audience, m.Shared, v) {
			case feed.Post:
				pg.Changes = append(pg.Changes, Change{Seq: pg.Last, Kind: feed.Post, ID: pid, Version: storedVersion(tx, me, pid)})
			case feed.Revoked:
				pg.Changes = append(pg.Changes, Change{Seq: pg.Last, Kind: feed.Revoked, ID: pid})
			}
		}
		// Nothing left: the caller may resume from the newest sequence number.
		if seq := tx.Bucket(bChanges).Sequence(); seq > pg.Last {
			pg.Last = seq
		}
		return nil
	})
	return pg, err
}

// VisiblePosts returns the envelopes of own posts among ids that viewer may see; the
// others are left out without a word.
func (s *Store) VisiblePosts(viewer identity.PublicKey, ids []post.ID) ([]*signedv1.Envelope, error) {
	var out []*signedv1.Envelope
	err := s.db.View(func(tx *bolt.Tx) error {
		v := s.viewerOf(tx, viewer)
		for _, id := range ids {
			st, ok, err := s.visibleOwn(tx, v, id)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, st.Envelope)
			}
		}
		return nil
	})
	return out, err
}

// BlobVisible reports whether viewer may fetch a blob: one of the own posts attaching it,
// in its current version, is visible to them, or a reply in the conversation of an own
// post that viewer is served attaches it (replyBlobVisible), or viewer is the author of
// a post held here that attaches it (recovery gives an author their own photos back).
func (s *Store) BlobVisible(viewer identity.PublicKey, sha []byte) (bool, error) {
	ok := false
	err := s.db.View(func(tx *bolt.Tx) error {
		if len(sha) == 32 {
			pfx := append(append([]byte(nil), sha...), viewer[:]...)
			if k, _ := tx.Bucket(bHeld).Cursor().Seek(pfx); k != nil && hasPrefix(k, pfx) {
				ok = true
				return nil
			}
		}
		v := s.viewerOf(tx, viewer)
		c := tx.Bucket(bBlobRefs).Cursor()
		for k, _ := c.Seek(sha); k != nil && hasPrefix(k, sha) && len(sha) == 32; k, _ = c.Next() {
			var id post.ID
			copy(id[:], k[32:])
			st, visible, err := s.visibleOwn(tx, v, id)
			if err != nil {
				return err
			}
			if !visible {
				continue
			}
			for _, a := range st.Payload.GetAttachments() {
				if string(a.GetSha256()) == string(sha) {
					ok = true
					return nil
				}
			}
		}
		if len(sha) != 32 || !s.hasSelf {
			return nil
		}
		var err error
		ok, err = s.replyBlobVisible(tx, v, sha)
		return err
	})
	return ok, err
}

// visibleOwn returns the own post id when v may see it; false when there is no such post
// or v may not see it.
func (s *Store) visibleOwn(tx *bolt.Tx, v feed.Viewer, id post.ID) (Stored, bool, error) {
	m, err := getMeta(tx, id)
	if errors.Is(err, ErrNotFound) {
		return Stored{}, false, nil
	}
	if err != nil || !feed.Visible(m.Audience, v) {
		return Stored{}, false, err
	}
	st, err := s.get(tx, s.self, id)
	if errors.Is(err, ErrNotFound) {
		return Stored{}, false, nil
	}
	return st, err == nil, err
}

// PostsAfter returns up to n posts by author whose ids sort after after (the zero id for
// the first page), in id order: a reader pages through without holding a transaction
// open while it sends.
func (s *Store) PostsAfter(author identity.PublicKey, after post.ID, n int) ([]Stored, error) {
	var out []Stored
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bPosts).Cursor()
		start := postKey(author, after)
		k, v := c.Seek(start)
		if k != nil && string(k) == string(start) {
			k, v = c.Next()
		}
		for ; k != nil && hasPrefix(k, author[:]) && len(out) < n; k, v = c.Next() {
			st, err := decodeStored(v)
			if err != nil {
				return fmt.Errorf("post %x: %w", k, err)
			}
			out = append(out, st)
		}
		return nil
	})
	return out, err
}
