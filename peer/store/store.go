// Package store keeps a peer's state in one bbolt file in its home directory: identity,
// profile, friends and groups, own and friends' posts, the changes log, per-friend cursors
// and the blob index. Blob bytes live in files beside it (see blobs.go).
package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/shared/identity"
)

// Errors a caller may test for with errors.Is.
var (
	// ErrNoIdentity means the home has no identity yet: run `kith init`.
	ErrNoIdentity = errors.New("no identity in this home; run `kith init` first")
	// ErrHasIdentity means the home already has an identity.
	ErrHasIdentity = errors.New("this home already has an identity")
	// ErrLocked means another process (a running daemon) holds the store.
	ErrLocked = errors.New("the store is in use by another kith process (is a daemon running?)")
	// ErrNewerSchema means the file was written by a newer kith.
	ErrNewerSchema = errors.New("the store was written by a newer kith; upgrade kith")
	// ErrNotFound means a post, friend or blob does not exist.
	ErrNotFound = errors.New("not found")
	// ErrCorrupt means the store file is damaged: restore it from a backup ('kith import').
	ErrCorrupt = errors.New("the store file is damaged; restore it from a backup with 'kith import'")
	// ErrNotFriend means a key is not a friend.
	ErrNotFriend = errors.New("not a friend")
)

// FileName is the bbolt file's name inside the home directory.
const FileName = "kith.db"

// SchemaVersion is the layout this code reads and writes.
const SchemaVersion = 4

// migrations returns, for each schema v, the step that upgrades a file from v to v+1
// inside the opening transaction. Schema 1 is the first.
func migrations() map[uint64]func(*bolt.Tx) error {
	return map[uint64]func(*bolt.Tx) error{
		1: addHeldRefs,
		// 2 -> 3: friends' recovery kits.
		2: func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(bKits); return err },
		// 3 -> 4: audiences a restored recovery kit names for posts not back yet.
		3: func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(bKitPosts); return err },
	}
}

// addHeldRefs (schema 1 -> 2) indexes the attachments of every held post, so a peer can
// give an author back their own blobs (recovery).
func addHeldRefs(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bHeld); err != nil {
		return err
	}
	return tx.Bucket(bPosts).ForEach(func(k, v []byte) error {
		st, err := decodeStored(v)
		if err != nil {
			return fmt.Errorf("post %x: %w", k, err)
		}
		return putHeldRefs(tx, k, st.Payload)
	})
}

// Buckets.
var (
	bMeta     = []byte("meta")     // "schema" -> u64; "seed" -> identity seed, or "seedenc" + "pub" (keyatrest.go); "name" -> profile name; "kitrev" -> u64 Unix ms
	bFriends  = []byte("friends")  // key(32) -> JSON Friend
	bGroups   = []byte("groups")   // name -> empty
	bPosts    = []byte("posts")    // author(32) || id(16) -> version(8) || Envelope
	bOwnMeta  = []byte("own")      // id(16) -> JSON ownMeta (audience, sharing history)
	bChanges  = []byte("changes")  // seq(8) -> id(16): the changes log, latest entry per post
	bPostSeq  = []byte("postseq")  // id(16) -> seq(8)
	bCursors  = []byte("cursors")  // friend key(32) -> seq(8)
	bBlobs    = []byte("blobs")    // sha256(32) -> size(8) || extension (BlobExt, may be empty)
	bBlobRefs = []byte("blobrefs") // sha256(32) || id(16) -> empty: own posts that attach a blob
	bHeld     = []byte("heldrefs") // sha256(32) || author(32) || id(16) -> empty: held posts that attach a blob (schema 2)
	bKits     = []byte("kits")     // friend key(32) -> that friend's signed recovery kit (schema 3)
	bKitPosts = []byte("kitposts") // id(16) -> JSON kitPost: a restored kit's word on an own post not held (schema 4)
	buckets   = [][]byte{bMeta, bFriends, bGroups, bPosts, bOwnMeta, bChanges, bPostSeq, bCursors, bBlobs, bBlobRefs, bHeld, bKits, bKitPosts}
)

// Config says where the store lives and what it uses.
type Config struct {
	// Home is the home directory; it is created (0700) when missing.
	Home string
	// Logger receives what the store has to say; slog.Default() when nil.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// NoSync skips fsync on commit. Only benchmarks of throughput set it.
	NoSync bool
	// LockTimeout is how long Open waits for another process's lock; 100ms when zero.
	LockTimeout time.Duration
}

// Store is an open home.
type Store struct {
	db   *bolt.DB
	home string
	log  *slog.Logger
	now  func() time.Time

	self    identity.PublicKey // the home's own key, once it has one
	hasSelf bool

	// blobMu orders the removal of an unreferenced blob's file against a new copy of the
	// same blob being committed; lock order: blobMu, then a bbolt transaction, then mu.
	blobMu sync.Mutex

	mu          sync.Mutex
	key, devKey *identity.Key // guarded by mu; the unlocked identity key of an encrypted home, or device key of a joined device encrypted at rest (devkey.go)
	changed     chan struct{} // guarded by mu; closed and replaced whenever the changes log grows
	kitChanged  chan struct{} // guarded by mu; closed and replaced whenever the kit revision moves
	notesCh     chan struct{} // guarded by mu; closed at the next change of notifications (convo)
}

// Home resolves the home directory: flag when set, then $KITH_HOME, then ~/.kith.
func Home(flag string, getenv func(string) string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if h := getenv("KITH_HOME"); h != "" {
		return h, nil
	}
	u, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the home directory: %w; pass --home or set KITH_HOME", err)
	}
	return filepath.Join(u, ".kith"), nil
}

// Open opens (creating when new) the store in cfg.Home, migrating an older schema.
func Open(cfg Config) (*Store, error) {
	if cfg.Home == "" {
		return nil, errors.New("open store: no home directory given")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LockTimeout == 0 {
		cfg.LockTimeout = 100 * time.Millisecond
	}
	if err := os.MkdirAll(filepath.Join(cfg.Home, blobDir), 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	path := filepath.Join(cfg.Home, FileName)
	db, err := openBolt(path, &bolt.Options{Timeout: cfg.LockTimeout, NoSync: cfg.NoSync, NoFreelistSync: true})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open store %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{db: db, home: cfg.Home, log: cfg.Logger, now: cfg.Now, changed: make(chan struct{}), kitChanged: make(chan struct{})}
	if err := db.Update(s.migrate); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := ensureConvoBuckets(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := ensureCarryBuckets(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := db.View(hasBuckets); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := db.View(func(tx *bolt.Tx) error {
		s.self, s.hasSelf = selfFromMeta(tx)
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

// openBolt opens the file, turning the panic bbolt raises on a damaged file (it walks
// every reachable page to rebuild its freelist) into ErrCorrupt.
func openBolt(path string, opts *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	return bolt.Open(path, 0o600, opts)
}

// hasBuckets checks that every bucket of the schema is there: a file that lost one is
// damaged, and would otherwise fail later, in the middle of some operation.
func hasBuckets(tx *bolt.Tx) error {
	for _, b := range buckets {
		if tx.Bucket(b) == nil {
			return fmt.Errorf("%w: bucket %q is missing", ErrCorrupt, b)
		}
	}
	return nil
}

// migrate creates a new file's buckets or upgrades an older schema step by step.
func (s *Store) migrate(tx *bolt.Tx) error {
	meta := tx.Bucket(bMeta)
	if meta == nil {
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := s.ensureViews(tx); err != nil {
			return err
		}
		if err := createConvoBuckets(tx); err != nil {
			return err
		}
		if err := createCarryBuckets(tx); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put([]byte("schema"), u64(SchemaVersion))
	}
	v := getU64(meta.Get([]byte("schema")))
	if v > SchemaVersion {
		return fmt.Errorf("%w (schema %d, this kith reads %d)", ErrNewerSchema, v, SchemaVersion)
	}
	for ; v < SchemaVersion; v++ {
		m, ok := migrations()[v]
		if !ok {
			return fmt.Errorf("no migration from schema %d", v)
		}
		if err := m(tx); err != nil {
			return fmt.Errorf("migrate schema %d to %d: %w", v, v+1, err)
		}
		s.log.Info("store migrated", "from", v, "to", v+1)
	}
	// Views need no schema step: a file without them (from before them) gets them here.
	if err := s.ensureViews(tx); err != nil {
		return fmt.Errorf("build the viewers' feeds: %w", err)
	}
	return meta.Put([]byte("schema"), u64(SchemaVersion))
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// HomeDir returns the store's home directory.
func (s *Store) HomeDir() string { return s.home }

// Changed returns a channel closed at the next growth of the changes log.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Store) notify() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// update runs fn in a write transaction and wakes watchers when the changes log grew
// or the recovery kit changed.
func (s *Store) update(fn func(tx *bolt.Tx) error) error {
	var grew, kit bool
	err := s.db.Update(func(tx *bolt.Tx) error {
		before := tx.Bucket(bChanges).Sequence()
		rev := string(tx.Bucket(bMeta).Get([]byte("kitrev")))
		if err := fn(tx); err != nil {
			return err
		}
		grew = tx.Bucket(bChanges).Sequence() != before
		kit = string(tx.Bucket(bMeta).Get([]byte("kitrev"))) != rev
		return s.fanOut(tx, before) // also builds a new friend's view when no post changed
	})
	if err == nil && grew {
		s.notify()
	}
	if err == nil && kit {
		s.mu.Lock()
		close(s.kitChanged)
		s.kitChanged = make(chan struct{})
		s.mu.Unlock()
	}
	return err
}

// LastSeq returns the newest sequence number of the changes log.
func (s *Store) LastSeq() (uint64, error) {
	var seq uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		seq = tx.Bucket(bChanges).Sequence()
		return nil
	})
	return seq, err
}

// Wait blocks until the changes log passes seq or ctx ends.
func (s *Store) Wait(ctx context.Context, seq uint64) error {
	for {
		ch := s.Changed()
		last, err := s.LastSeq()
		if err != nil || last > seq {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func getU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
