package store

import (
	"bytes"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/shared/identity"
)

// Per-viewer views of the changes log (issue 13 item 7).
//
// The global log numbers every change of every own post, so its numbers move with
// private posts, edits and friend changes. A viewer is answered from its own view
// instead: a log that gets an entry only when what that viewer may see of a post changes
// (a version it may see, or the post's revocation, once). Its sequence numbers, its
// last_seq and the cost of reading it depend only on what the viewer may see.
//
// Views exist for every friend, every former friend (they still learn revocations) and one
// shared view for all other strangers (classKey). They are written in the transaction
// that writes the global log (Store.update), so a read never scans hidden entries.
var (
	bViewLog    = []byte("viewlog")   // viewer(32) || vseq(8) -> id(16) || kind(1) || version(8)
	bViewState  = []byte("viewstate") // viewer(32) || id(16) -> vseq(8) || kind(1) || version(8) [|| conversation revision(8)]
	bViewHead   = []byte("viewhead")  // viewer(32) -> newest vseq(8)
	viewBuckets = [][]byte{bViewLog, bViewState, bViewHead}
)

// classKey names the view of every stranger that never was a friend. No one holds the
// all-zero key's private half (it is a small-order point), so no peer can be it.
var classKey identity.PublicKey

// viewStart is where every view's numbering starts. A cursor at or below it (a new
// puller's 0, or a number from the global log of an older kith) reads the view from its
// beginning, and a view's numbers never fall below a cursor issued before views existed.
const viewStart = 1 << 40

// viewEntry is what a view records for one post.
type viewEntry struct {
	kind    feed.Kind
	version uint64
}

func encodeViewEntry(id post.ID, e viewEntry) []byte {
	b := append(append([]byte(nil), id[:]...), byte(e.kind))
	return append(b, u64(e.version)...)
}

func viewKey(viewer identity.PublicKey, rest []byte) []byte {
	return append(append(make([]byte, 0, 32+len(rest)), viewer[:]...), rest...)
}

// ensureViews creates the view buckets of a file that has none (new, or written by a kith
// before views) and builds every view from the global log.
func (s *Store) ensureViews(tx *bolt.Tx) error {
	if tx.Bucket(bViewHead) != nil {
		for _, b := range viewBuckets {
			if tx.Bucket(b) == nil {
				return fmt.Errorf("%w: bucket %q is missing", ErrCorrupt, b)
			}
		}
		return nil
	}
	for _, b := range viewBuckets {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	keys := map[identity.PublicKey]bool{classKey: true}
	fs, err := friends(tx)
	if err != nil {
		return err
	}
	for _, f := range fs {
		keys[f.Key] = true
	}
	// Former friends are the people a post was ever shared with.
	err = tx.Bucket(bOwnMeta).ForEach(func(_, v []byte) error {
		var m ownMeta
		if err := json.Unmarshal(v, &m); err != nil {
			return err
		}
		for _, id := range m.Shared.People {
			if k, err := identity.ParseID(string(id)); err == nil {
				keys[k] = true
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for k := range keys {
		if err := s.buildView(tx, k); err != nil {
			return err
		}
	}
	return nil
}

// buildView starts k's view from the whole global log. A new friend read the class view
// of strangers until now, and its cursor holds a number of that view: k's own view is
// numbered after the class view's head, so that cursor sits before all of k's entries
// and k reads its whole view rather than skip, silently, the first entries of a view it
// never read. (The class view's head is what any stranger sees anyway.)
func (s *Store) buildView(tx *bolt.Tx, k identity.PublicKey) error {
	heads := tx.Bucket(bViewHead)
	start := uint64(viewStart)
	if k != classKey {
		start = max(start, getU64(heads.Get(classKey[:])))
	}
	if err := heads.Put(k[:], u64(start)); err != nil {
		return err
	}
	v := s.viewerFor(tx, k)
	return tx.Bucket(bChanges).ForEach(func(_, id []byte) error {
		var pid post.ID
		copy(pid[:], id)
		return s.fanOne(tx, k, v, pid)
	})
}

// viewerFor is how k's view judges posts: the class view judges as any stranger does.
func (s *Store) viewerFor(tx *bolt.Tx, k identity.PublicKey) feed.Viewer {
	if k == classKey {
		return feed.Stranger(classKey)
	}
	return s.viewerOf(tx, k)
}

// fanOut records the global log's entries after seq before in every view: current
// friends (a new friend's view is built whole), former friends and the class view.
func (s *Store) fanOut(tx *bolt.Tx, before uint64) error {
	fs, err := friends(tx)
	if err != nil {
		return err
	}
	heads := tx.Bucket(bViewHead)
	for _, f := range fs {
		if heads.Get(f.Key[:]) == nil {
			if err := s.buildView(tx, f.Key); err != nil {
				return err
			}
		}
	}
	var ids []post.ID
	c := tx.Bucket(bChanges).Cursor()
	for k, id := c.Seek(u64(before + 1)); k != nil; k, id = c.Next() {
		var pid post.ID
		copy(pid[:], id)
		ids = append(ids, pid)
	}
	if len(ids) == 0 {
		return nil
	}
	var viewers []identity.PublicKey
	heads.ForEach(func(k, _ []byte) error {
		viewers = append(viewers, identity.PublicKey(k))
		return nil
	})
	vs := make([]feed.Viewer, len(viewers))
	for i, k := range viewers {
		vs[i] = s.viewerFor(tx, k)
	}
	for _, id := range ids { // each post's metadata read once, whatever the number of views
		m, err := getMeta(tx, id)
		if err != nil {
			return err
		}
		version := storedVersion(tx, s.selfIn(tx), id)
		for i, k := range viewers {
			if err := fanTo(tx, k, vs[i], id, m, version); err != nil {
				return err
			}
		}
	}
	return nil
}

// fanOne appends id to k's view when what v may see of it changed.
func (s *Store) fanOne(tx *bolt.Tx, k identity.PublicKey, v feed.Viewer, id post.ID) error {
	m, err := getMeta(tx, id)
	if err != nil {
		return err
	}
	return fanTo(tx, k, v, id, m, storedVersion(tx, s.selfIn(tx), id))
}

// fanTo appends id (metadata m, newest version) to k's view when what v may see of it
// differs from the view's last entry for it: a new version or a new state of its
// conversation (convo.go) it may see, or its revocation (once).
func fanTo(tx *bolt.Tx, k identity.PublicKey, v feed.Viewer, id post.ID, m ownMeta, version uint64) error {
	e := viewEntry{kind: feed.Decide(m.Audience, m.Shared, v)}
	var conv uint64 // the conversation's revision, for those who may see the post only
	switch e.kind {
	case feed.Hidden:
		return nil
	case feed.Post:
		e.version = version
		conv = conversationRev(tx, id)
	}
	state, log, heads := tx.Bucket(bViewState), tx.Bucket(bViewLog), tx.Bucket(bViewHead)
	sk := viewKey(k, id[:])
	if old := state.Get(sk); len(old) == 17 || len(old) == 25 {
		var oldConv uint64
		if len(old) == 25 {
			oldConv = getU64(old[17:])
		}
		if feed.Kind(old[8]) == e.kind && getU64(old[9:17]) == e.version && oldConv == conv {
			return nil
		}
		if err := log.Delete(viewKey(k, old[:8])); err != nil {
			return err
		}
	}
	seq := getU64(heads.Get(k[:])) + 1
	if err := heads.Put(k[:], u64(seq)); err != nil {
		return err
	}
	if err := log.Put(viewKey(k, u64(seq)), encodeViewEntry(id, e)); err != nil {
		return err
	}
	return state.Put(sk, append(append(append(u64(seq), byte(e.kind)), u64(e.version)...), u64(conv)...))
}

// viewOf is the view that answers viewer: its own when it has one (a friend or former
// friend), else the class view of strangers.
func viewOf(tx *bolt.Tx, viewer identity.PublicKey) identity.PublicKey {
	if tx.Bucket(bViewHead).Get(viewer[:]) != nil {
		return viewer
	}
	return classKey
}

// viewChanges reads up to limit entries of viewer's view after since.
func viewChanges(tx *bolt.Tx, viewer identity.PublicKey, since uint64, limit int) (Page, error) {
	pg := Page{Last: since}
	k := viewOf(tx, viewer)
	head := max(getU64(tx.Bucket(bViewHead).Get(k[:])), viewStart)
	if since > head {
		// The caller's cursor is past the end of its view: this home was rebuilt (a
		// recovery) after the caller read it. Say where the view ends, so the caller
		// starts again from the beginning rather than wait, silently, for the view to
		// catch up with its old cursor.
		pg.Last = head
		return pg, nil
	}
	from := max(since, viewStart) + 1
	if since >= from { // since == MaxUint64
		return pg, nil
	}
	c := tx.Bucket(bViewLog).Cursor()
	for key, v := c.Seek(viewKey(k, u64(from))); key != nil && bytes.HasPrefix(key, k[:]); key, v = c.Next() {
		if len(pg.Changes) >= limit {
			pg.More = true
			return pg, nil
		}
		if len(v) != 25 {
			return pg, fmt.Errorf("%w: view entry %x", ErrCorrupt, key)
		}
		ch := Change{Seq: getU64(key[32:]), Kind: feed.Kind(v[16]), Version: getU64(v[17:])}
		copy(ch.ID[:], v[:16])
		pg.Changes = append(pg.Changes, ch)
		pg.Last = ch.Seq
	}
	pg.Last = max(pg.Last, getU64(tx.Bucket(bViewHead).Get(k[:])))
	return pg, nil
}

// selfIn is the home's own key; Open has not learnt it yet while it migrates. Without an
// identity there are no own posts.
func (s *Store) selfIn(tx *bolt.Tx) identity.PublicKey {
	if s.hasSelf {
		return s.self
	}
	k, _ := selfFromMeta(tx) // the plain seed, or "pub" beside a key encrypted at rest
	return k
}

// LastSeqFor returns the newest sequence number of viewer's feed: where the cursor of a
// puller that holds all it may see stands.
func (s *Store) LastSeqFor(viewer identity.PublicKey) (uint64, error) {
	var seq uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		seq = getU64(tx.Bucket(bViewHead).Get(viewOf(tx, viewer).Bytes()))
		return nil
	})
	return seq, err
}
