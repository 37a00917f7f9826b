package crawl

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

// IndexSchema is the index layout this code reads and writes.
const IndexSchema = 1

// ErrIndexLocked means another process (a running crawl) holds the index file.
var ErrIndexLocked = errors.New("the index is in use by another process (is a crawl running?)")

// Buckets of the index file.
var (
	bMeta    = []byte("meta")    // "schema" -> u64; "seed" -> the crawler's identity seed
	bPeers   = []byte("peers")   // key(32) -> JSON PeerState
	bPosts   = []byte("posts")   // author(32) || id(16) -> version(8) || Envelope
	bTags    = []byte("tags")    // len(tag)(1) || tag || newest(8) || author || id -> empty
	bAuthors = []byte("authors") // author || newest(8) || id -> empty
	bTimes   = []byte("times")   // newest(8) || author || id -> empty
	buckets  = [][]byte{bMeta, bPeers, bPosts, bTags, bAuthors, bTimes}
)

// PeerState is what the index remembers of a peer between crawls.
type PeerState struct {
	// Addr is the last host:port the peer was reached at, or was published for it.
	Addr string `json:"addr,omitempty"`
	// Cursor is how far the peer's changes feed has been read.
	Cursor uint64 `json:"cursor"`
	// Crawled is when the peer was last reached.
	Crawled time.Time `json:"crawled,omitzero"`
	// Err is why the last attempt failed, or empty.
	Err string `json:"err,omitempty"`
}

// Index is an open crawl index: one bbolt file.
type Index struct {
	db *bolt.DB
}

// OpenIndex opens (creating when new) the index at path.
func OpenIndex(path string) (*Index, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 200 * time.Millisecond, NoFreelistSync: true})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open index %s: %w", path, ErrIndexLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bMeta)
		if v := meta.Get([]byte("schema")); v != nil && binary.BigEndian.Uint64(v) != IndexSchema {
			return fmt.Errorf("index schema %d, this kith reads %d", binary.BigEndian.Uint64(v), IndexSchema)
		}
		return meta.Put([]byte("schema"), binary.BigEndian.AppendUint64(nil, IndexSchema))
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	return &Index{db: db}, nil
}

// Close closes the file.
func (ix *Index) Close() error { return ix.db.Close() }

// Key returns the crawler's own identity, made on first use and kept in the index: the
// stranger the crawled peers see.
func (ix *Index) Key() (*identity.Key, error) {
	var k *identity.Key
	err := ix.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if seed := meta.Get([]byte("seed")); seed != nil {
			var err error
			k, err = identity.FromSeed(seed)
			return err
		}
		var err error
		if k, err = identity.Generate(nil); err != nil {
			return err
		}
		return meta.Put([]byte("seed"), k.Seed())
	})
	return k, err
}

// Peer returns what the index knows of a peer (zero when nothing).
func (ix *Index) Peer(k identity.PublicKey) (PeerState, error) {
	var ps PeerState
	err := ix.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bPeers).Get(k[:]); v != nil {
			return json.Unmarshal(v, &ps)
		}
		return nil
	})
	return ps, err
}

// PutPeer records a peer's state (not its cursor's progress: Apply moves that).
func (ix *Index) PutPeer(k identity.PublicKey, ps PeerState) error {
	return ix.db.Update(func(tx *bolt.Tx) error { return putPeer(tx, k, ps) })
}

func putPeer(tx *bolt.Tx, k identity.PublicKey, ps PeerState) error {
	v, err := json.Marshal(ps)
	if err != nil {
		return err
	}
	return tx.Bucket(bPeers).Put(k[:], v)
}

// Batch is one verified step of a peer's feed.
type Batch struct {
	// Posts are the peer's verified posts (syncer.FetchPosts); only public ones are
	// indexed, and a tombstone or a private version removes the post.
	Posts []store.Verified
	// Gone are posts the peer withdrew from strangers (made private): removed.
	Gone []post.ID
	// Cursor is where the next step starts.
	Cursor uint64
}

// Applied counts what a batch changed.
type Applied struct {
	Indexed, Removed int
}

// Apply indexes a batch of peer's posts and advances the peer's cursor in one
// transaction: a crash keeps all of it or none; the cursor never moves back.
func (ix *Index) Apply(peer identity.PublicKey, b Batch) (Applied, error) {
	var n Applied
	err := ix.db.Update(func(tx *bolt.Tx) error {
		for _, id := range b.Gone {
			ok, err := unindex(tx, peer, id)
			if err != nil {
				return err
			}
			if ok {
				n.Removed++
			}
		}
		for _, v := range b.Posts {
			id := post.ID(v.Payload.GetId())
			old := storedVersion(tx, peer, id)
			if old >= v.Payload.GetVersion() {
				continue
			}
			ok, err := unindex(tx, peer, id)
			if err != nil {
				return err
			}
			if v.Payload.GetDeleted() || v.Payload.GetVisibility() != postv1.Visibility_VISIBILITY_PUBLIC {
				if ok {
					n.Removed++
				}
				continue
			}
			if err := index(tx, peer, v); err != nil {
				return err
			}
			n.Indexed++
		}
		var ps PeerState
		if raw := tx.Bucket(bPeers).Get(peer[:]); raw != nil {
			if err := json.Unmarshal(raw, &ps); err != nil {
				return err
			}
		}
		ps.Cursor = max(ps.Cursor, b.Cursor)
		return putPeer(tx, peer, ps)
	})
	return n, err
}

func postKey(author identity.PublicKey, id post.ID) []byte {
	return append(append(make([]byte, 0, 48), author[:]...), id[:]...)
}

func storedVersion(tx *bolt.Tx, author identity.PublicKey, id post.ID) uint64 {
	v := tx.Bucket(bPosts).Get(postKey(author, id))
	if len(v) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// newest orders times so that bbolt's ascending keys run newest first.
func newest(ms int64) []byte {
	return binary.BigEndian.AppendUint64(nil, ^(uint64(ms) ^ 1<<63))
}

func tagPrefix(tag string) []byte { return append([]byte{byte(len(tag))}, tag...) }

// entryKeys are the secondary index keys of a post.
func entryKeys(author identity.PublicKey, p *postv1.Payload) (tags [][]byte, byAuthor, byTime []byte) {
	t := newest(p.GetCreatedUnixMs())
	ak := postKey(author, post.ID(p.GetId()))
	for _, tag := range p.GetHashtags() {
		if tag == "" || len(tag) > 255 {
			continue // the signed list is the author's claim; keep the key's length byte honest
		}
		tags = append(tags, append(append(tagPrefix(tag), t...), ak...))
	}
	byAuthor = append(append(append([]byte(nil), author[:]...), t...), p.GetId()...)
	byTime = append(append([]byte(nil), t...), ak...)
	return tags, byAuthor, byTime
}

func index(tx *bolt.Tx, author identity.PublicKey, v store.Verified) error {
	raw, err := proto.Marshal(v.Envelope)
	if err != nil {
		return err
	}
	val := append(binary.BigEndian.AppendUint64(nil, v.Payload.GetVersion()), raw...)
	if err := tx.Bucket(bPosts).Put(postKey(author, post.ID(v.Payload.GetId())), val); err != nil {
		return err
	}
	tags, byAuthor, byTime := entryKeys(author, v.Payload)
	for _, k := range tags {
		if err := tx.Bucket(bTags).Put(k, nil); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bAuthors).Put(byAuthor, nil); err != nil {
		return err
	}
	return tx.Bucket(bTimes).Put(byTime, nil)
}

// unindex removes a post and its index entries; it reports whether there was one.
func unindex(tx *bolt.Tx, author identity.PublicKey, id post.ID) (bool, error) {
	key := postKey(author, id)
	v := tx.Bucket(bPosts).Get(key)
	if v == nil {
		return false, nil
	}
	env, p, err := decodePost(v)
	if err != nil || env == nil {
		return false, fmt.Errorf("index entry %s: %w", id, err)
	}
	tags, byAuthor, byTime := entryKeys(author, p)
	for _, k := range tags {
		if err := tx.Bucket(bTags).Delete(k); err != nil {
			return false, err
		}
	}
	if err := tx.Bucket(bAuthors).Delete(byAuthor); err != nil {
		return false, err
	}
	if err := tx.Bucket(bTimes).Delete(byTime); err != nil {
		return false, err
	}
	return true, tx.Bucket(bPosts).Delete(key)
}

// decodePost reads a stored value: version, then the envelope. It parses the payload
// without verifying (Search verifies again before it marks a result verified).
func decodePost(v []byte) (*signedv1.Envelope, *postv1.Payload, error) {
	if len(v) < 8 {
		return nil, nil, errors.New("short index entry")
	}
	env := new(signedv1.Envelope)
	if err := proto.Unmarshal(v[8:], env); err != nil {
		return nil, nil, err
	}
	p := new(postv1.Payload)
	if err := proto.Unmarshal(env.GetPayload(), p); err != nil {
		return nil, nil, err
	}
	return env, p, nil
}

// Count returns how many posts the index holds.
func (ix *Index) Count() (int, error) {
	var n int
	err := ix.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(bPosts).Stats().KeyN; return nil })
	return n, err
}
