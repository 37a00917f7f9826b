package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Sealed parcels (issue 17, docs/DESIGN.md "Carried posts"). This node holds its own
// posts' parcels (from = its own key, never dropped, not counted against any quota) and
// parcels friends handed it to carry (from = that friend: counted against the friend's
// quota, dropped when every addressed reader acknowledged or the retention passed).
// Both are served from one parcel log, one entry per slot, like the changes log.
var (
	bParcels     = []byte("parcels")     // slot(32) -> marshalled signed Parcel envelope
	bParcelMeta  = []byte("parcelmeta")  // slot(32) -> JSON parcelMeta
	bParcelLog   = []byte("parcellog")   // seq(8) -> slot(32); the bucket's sequence numbers it
	bParcelCur   = []byte("parcelcur")   // friend key(32) -> seq(8): how far its parcel log was read
	bOwnParcel   = []byte("ownparcel")   // kind(1) || post id(16) [|| reader(32)] -> digest(32) of what was sealed || seq(8)
	bCarriedVia  = []byte("carriedvia")  // author(32) || id(16) -> carrier(32): the held post came through a carrier
	bCarryRevked = []byte("carryrevked") // author(32) || id(16) -> version(8): revoked through a carrier up to version
	bCarryUse    = []byte("carryuse")    // from(32) -> parcels(8) || bytes(8): what parcelmeta holds per hand
	carryBuckets = [][]byte{bParcels, bParcelMeta, bParcelLog, bParcelCur, bOwnParcel, bCarriedVia, bCarryRevked, bCarryUse}
)

// Errors of carrying a caller may test for with errors.Is.
var (
	// ErrOverQuota means a friend's parcels already fill the quota this node keeps for it.
	ErrOverQuota = errors.New("carry quota for this friend is full")
	// ErrCarryOff means this person turned carrying for others off.
	ErrCarryOff = errors.New("this node does not carry parcels for others")
)

// parcelMeta is what the store keeps beside a parcel's bytes.
type parcelMeta struct {
	From     identity.PublicKey `json:"from"`
	Own      bool               `json:"own,omitempty"`
	Received int64              `json:"received"` // Unix ms
	Seq      uint64             `json:"seq"`      // the parcel's own seq (per slot)
	LogSeq   uint64             `json:"logseq"`
	Size     uint64             `json:"size"`
	Acks     [][]byte           `json:"acks"` // hashes not acknowledged yet
}

// ensureCarryBuckets adds the carrying buckets when missing (additive, no schema step),
// writing only then.
func ensureCarryBuckets(db *bolt.DB) error {
	missing := false
	if err := db.View(func(tx *bolt.Tx) error {
		for _, b := range carryBuckets {
			missing = missing || tx.Bucket(b) == nil
		}
		return nil
	}); err != nil || !missing {
		return err
	}
	return db.Update(createCarryBuckets)
}

// createCarryBuckets creates the carrying buckets in a new file's first transaction.
func createCarryBuckets(tx *bolt.Tx) error {
	for _, b := range carryBuckets {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

func getParcelMeta(tx *bolt.Tx, slot []byte) (parcelMeta, bool) {
	var m parcelMeta
	v := tx.Bucket(bParcelMeta).Get(slot)
	if v == nil || json.Unmarshal(v, &m) != nil {
		return m, false
	}
	return m, true
}

// putParcel stores a parcel under its slot with a new log entry, replacing the older.
func putParcel(tx *bolt.Tx, env *signedv1.Envelope, p *syncv1.Parcel, m parcelMeta) error {
	b, err := proto.Marshal(env)
	if err != nil {
		return err
	}
	if err := dropParcel(tx, p.GetSlot()); err != nil {
		return err
	}
	log := tx.Bucket(bParcelLog)
	seq, err := log.NextSequence()
	if err != nil {
		return err
	}
	m.Seq, m.LogSeq, m.Size, m.Acks = p.GetSeq(), seq, uint64(len(b)), p.GetAcks()
	mb, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := log.Put(u64(seq), p.GetSlot()); err != nil {
		return err
	}
	if err := addUse(tx, m.From, 1, int64(m.Size)); err != nil {
		return err
	}
	if err := tx.Bucket(bParcelMeta).Put(p.GetSlot(), mb); err != nil {
		return err
	}
	return tx.Bucket(bParcels).Put(p.GetSlot(), b)
}

// dropParcel removes a slot's parcel and its log entry, if held.
func dropParcel(tx *bolt.Tx, slot []byte) error {
	m, ok := getParcelMeta(tx, slot)
	if !ok {
		return nil
	}
	if err := tx.Bucket(bParcelLog).Delete(u64(m.LogSeq)); err != nil {
		return err
	}
	if err := addUse(tx, m.From, -1, -int64(m.Size)); err != nil {
		return err
	}
	if err := tx.Bucket(bParcelMeta).Delete(slot); err != nil {
		return err
	}
	return tx.Bucket(bParcels).Delete(slot)
}

// OwnParcelKey names what an own parcel seals: a post's parcel, or one reader's
// revocation of it.
func OwnParcelKey(id post.ID, reader *identity.PublicKey) []byte {
	if reader == nil {
		return append([]byte{'p'}, id[:]...)
	}
	return append(append([]byte{'r'}, id[:]...), reader[:]...)
}

// OwnParcelDigest is the digest stored with an own parcel (nil when none) and the seq
// it was sealed with: the sealer reseals only when what it would seal changed, and
// numbers the new parcel past the old one even if the clock went back.
func (s *Store) OwnParcelDigest(key []byte) (digest []byte, seq uint64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bOwnParcel).Get(key)
		if len(v) == sha256.Size+8 {
			digest, seq = bytes.Clone(v[:sha256.Size]), getU64(v[sha256.Size:])
		}
		return nil
	})
	return digest, seq, err
}

// OwnParcel is one of this node's own parcels, signed by its slot key, with the digest
// of what it seals.
type OwnParcel struct {
	Key, Digest []byte
	Envelope    *signedv1.Envelope
	Parcel      *syncv1.Parcel
}

// PutOwnParcel stores one own parcel (PutOwnParcels).
func (s *Store) PutOwnParcel(key, digest []byte, env *signedv1.Envelope, p *syncv1.Parcel) error {
	return s.PutOwnParcels([]OwnParcel{{Key: key, Digest: digest, Envelope: env, Parcel: p}})
}

// PutOwnParcels stores own parcels in one transaction, each replacing its slot's older
// parcel.
func (s *Store) PutOwnParcels(ps []OwnParcel) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		self := s.selfIn(tx)
		for _, p := range ps {
			if err := putParcel(tx, p.Envelope, p.Parcel, parcelMeta{From: self, Own: true, Received: s.now().UnixMilli()}); err != nil {
				return err
			}
			if err := tx.Bucket(bOwnParcel).Put(p.Key, append(bytes.Clone(p.Digest), u64(p.Parcel.GetSeq())...)); err != nil {
				return err
			}
		}
		return nil
	})
}

// OwnCandidate is an own post as the sealer needs it: the signed post, who may read it
// now (friends only; never this node), and which friends it was revoked from.
type OwnCandidate struct {
	Post    Stored
	Readers []identity.PublicKey
	Revoked []identity.PublicKey
}

// CarryCandidates lists every own post with its current friend readers and the friends
// it was withdrawn from, read in one transaction.
func (s *Store) CarryCandidates() ([]OwnCandidate, error) {
	var out []OwnCandidate
	err := s.db.View(func(tx *bolt.Tx) error {
		self := s.selfIn(tx)
		fs, err := friends(tx)
		if err != nil {
			return err
		}
		vs := make([]feed.Viewer, len(fs))
		for i, f := range fs {
			vs[i] = s.viewerOf(tx, f.Key)
		}
		prefix := self[:]
		c := tx.Bucket(bPosts).Cursor()
		for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
			st, err := decodeStored(v)
			if err != nil {
				return fmt.Errorf("post %x: %w", k, err)
			}
			m, err := getMeta(tx, st.ID())
			if err != nil {
				continue // no audience known: never carried
			}
			cand := OwnCandidate{Post: st}
			for i, f := range fs {
				switch feed.Decide(m.Audience, m.Shared, vs[i]) {
				case feed.Post:
					cand.Readers = append(cand.Readers, f.Key)
				case feed.Revoked:
					cand.Revoked = append(cand.Revoked, f.Key)
				}
			}
			out = append(out, cand)
		}
		return nil
	})
	return out, err
}

// ParcelPage is one answer of the parcel log.
type ParcelPage struct {
	Parcels []*signedv1.Envelope
	LastSeq uint64
	More    bool
}

// ParcelsSince returns parcels logged after since, at most limit of them and about
// maxBytes (always at least one).
func (s *Store) ParcelsSince(since uint64, limit, maxBytes int) (ParcelPage, error) {
	pg := ParcelPage{LastSeq: since}
	err := s.db.View(func(tx *bolt.Tx) error {
		size := 0
		c := tx.Bucket(bParcelLog).Cursor()
		for k, slot := c.Seek(u64(since + 1)); k != nil; k, slot = c.Next() {
			v := tx.Bucket(bParcels).Get(slot)
			if len(pg.Parcels) >= limit || (len(pg.Parcels) > 0 && size+len(v) > maxBytes) {
				pg.More = true
				return nil
			}
			env := new(signedv1.Envelope)
			if err := proto.Unmarshal(v, env); err != nil {
				return fmt.Errorf("parcel %x: %w", slot[:8], ErrCorrupt)
			}
			size += len(v)
			pg.Parcels = append(pg.Parcels, env)
			pg.LastSeq = seqOf(k)
		}
		pg.LastSeq = max(pg.LastSeq, tx.Bucket(bParcelLog).Sequence())
		return nil
	})
	return pg, err
}

// ParcelCursor is how far a friend's parcel log was read.
func (s *Store) ParcelCursor(friend identity.PublicKey) (uint64, error) {
	var c uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		c = getU64(tx.Bucket(bParcelCur).Get(friend[:]))
		return nil
	})
	return c, err
}

// CarryPolicy is what a node keeps for friends.
type CarryPolicy struct {
	// Off refuses every parcel from others.
	Off bool
	// Quota is the most bytes of parcels kept per friend who handed them over.
	Quota uint64
	// Retention is how long a carried parcel is kept at most.
	Retention time.Duration
}

// CarriedPost is a post a reader opened from a parcel and verified (carry.Open).
type CarriedPost struct {
	Author identity.PublicKey
	Post   Verified
}

// CarriedRevocation is a verified revocation a reader opened from a parcel.
type CarriedRevocation struct {
	Author  identity.PublicKey
	ID      post.ID
	Version uint64
}

// ParcelBatch is one page of a friend's parcel log, checked and opened by the caller.
type ParcelBatch struct {
	// Carry are parcels to keep for others (checked with carry.Check).
	Carry []*signedv1.Envelope
	// Parcels are the checked parcels of Carry, in the same order.
	Parcels []*syncv1.Parcel
	// Posts and Revocations are what this node opened for itself; blobs committed.
	Posts       []CarriedPost
	Revocations []CarriedRevocation
	// Cursor is the friend's parcel log position to resume from.
	Cursor uint64
}

// CarryResult counts what a parcel batch did.
type CarryResult struct {
	Kept, Ignored int
	// Refused is why parcels were not kept (over quota, carrying off), empty when all were.
	Refused    []error
	Stored     map[identity.PublicKey]int // posts stored per author
	Dropped    int
	QuotaBytes uint64
}

// ApplyParcels keeps a friend's parcels within its quota and stores the posts opened from
// them, in one transaction with the friend's parcel cursor. A parcel over quota is
// refused with the reason and nothing else is dropped for it: own posts and parcels
// already kept stay. A carried post is stored only when its author is a friend and it is
// newer than the copy held and than any revocation carried.
func (s *Store) ApplyParcels(via identity.PublicKey, b ParcelBatch, pol CarryPolicy) (CarryResult, error) {
	var res CarryResult
	var orphans [][]byte
	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	err := s.update(func(tx *bolt.Tx) error {
		res, orphans = CarryResult{Stored: map[identity.PublicKey]int{}, QuotaBytes: pol.Quota}, nil
		if _, ok := friendOf(tx, via); !ok {
			return fmt.Errorf("parcels from %s: %w", via.Short(), ErrNotFriend)
		}
		if err := s.keepParcels(tx, via, b, pol, &res); err != nil {
			return err
		}
		var err error
		if orphans, err = s.storeCarried(tx, via, b, &res, orphans); err != nil {
			return err
		}
		if b.Cursor < getU64(tx.Bucket(bParcelCur).Get(via[:])) {
			return nil
		}
		return tx.Bucket(bParcelCur).Put(via[:], u64(b.Cursor))
	})
	if err == nil {
		s.removeBlobFiles(orphans)
	}
	return res, err
}

// keepParcels keeps b's parcels for others within via's quota.
func (s *Store) keepParcels(tx *bolt.Tx, via identity.PublicKey, b ParcelBatch, pol CarryPolicy, res *CarryResult) error {
	used := carriedBytes(tx, via)
	for i, env := range b.Carry {
		p := b.Parcels[i]
		old, held := getParcelMeta(tx, p.GetSlot())
		if held && (old.Own || old.Seq >= p.GetSeq()) {
			res.Ignored++
			continue
		}
		if pol.Off {
			res.Refused = append(res.Refused, ErrCarryOff)
			continue
		}
		size := uint64(proto.Size(env))
		freed := uint64(0)
		if held && old.From == via {
			freed = old.Size
		}
		if used+size-freed > pol.Quota {
			res.Refused = append(res.Refused, fmt.Errorf("%w: %d bytes held for %s, a parcel of %d bytes would pass the quota of %d bytes (kith daemon --carry-quota)",
				ErrOverQuota, used, via.Short(), size, pol.Quota))
			continue
		}
		if err := putParcel(tx, env, p, parcelMeta{From: via, Received: s.now().UnixMilli()}); err != nil {
			return err
		}
		used = used + size - freed
		res.Kept++
	}
	return nil
}

// carriedBytes is the size of the parcels held that via handed over.
func carriedBytes(tx *bolt.Tx, via identity.PublicKey) uint64 {
	_, n := getUse(tx, via)
	return n
}

func getUse(tx *bolt.Tx, from identity.PublicKey) (parcels, size uint64) {
	v := tx.Bucket(bCarryUse).Get(from[:])
	if len(v) != 16 {
		return 0, 0
	}
	return getU64(v[:8]), getU64(v[8:])
}

// addUse moves from's counters, kept in the transaction that changes parcelmeta.
func addUse(tx *bolt.Tx, from identity.PublicKey, parcels, size int64) error {
	n, b := getUse(tx, from)
	n, b = uint64(int64(n)+parcels), uint64(int64(b)+size)
	if n == 0 {
		return tx.Bucket(bCarryUse).Delete(from[:])
	}
	return tx.Bucket(bCarryUse).Put(from[:], append(u64(n), u64(b)...))
}

// storeCarried stores the posts and revocations b opened for this node.
func (s *Store) storeCarried(tx *bolt.Tx, via identity.PublicKey, b ParcelBatch, res *CarryResult, orphans [][]byte) ([][]byte, error) {
	self := s.selfIn(tx)
	for _, cp := range b.Posts {
		if _, ok := friendOf(tx, cp.Author); !ok || cp.Author == self || string(cp.Post.Payload.GetAuthor()) != string(cp.Author[:]) {
			res.Ignored++
			continue
		}
		var id post.ID
		copy(id[:], cp.Post.Payload.GetId())
		k := postKey(cp.Author, id)
		v := cp.Post.Payload.GetVersion()
		if storedVersion(tx, cp.Author, id) >= v || getU64(tx.Bucket(bCarryRevked).Get(k)) >= v {
			res.Ignored++
			continue
		}
		old, err := dropHeld(tx, k)
		if err != nil {
			return nil, err
		}
		if err := checkBlobs(tx, cp.Post.Payload.GetAttachments()); err != nil {
			return nil, err
		}
		if err := putPost(tx, cp.Author, id, cp.Post.Payload, cp.Post.Envelope); err != nil {
			return nil, err
		}
		if err := tx.Bucket(bCarriedVia).Put(k, via[:]); err != nil {
			return nil, err
		}
		if orphans, err = unreferenced(tx, orphans, old); err != nil {
			return nil, err
		}
		res.Stored[cp.Author]++
	}
	for _, r := range b.Revocations {
		k := postKey(r.Author, r.ID)
		if getU64(tx.Bucket(bCarryRevked).Get(k)) >= r.Version {
			continue
		}
		if err := tx.Bucket(bCarryRevked).Put(k, u64(r.Version)); err != nil {
			return nil, err
		}
		if held := tx.Bucket(bPosts).Get(k); held == nil || getU64(prefix8(held)) > r.Version {
			continue
		}
		old, err := dropHeld(tx, k)
		if err != nil {
			return nil, err
		}
		if err := tx.Bucket(bPosts).Delete(k); err != nil {
			return nil, err
		}
		if orphans, err = unreferenced(tx, orphans, old); err != nil {
			return nil, err
		}
		if err := dropConversation(tx, r.Author, r.ID, &orphans); err != nil {
			return nil, err
		}
		res.Dropped++
	}
	return orphans, nil
}

// CarriedVia names the carrier a held post last came through; ok is false when it came
// from its author.
func (s *Store) CarriedVia(author identity.PublicKey, id post.ID) (via identity.PublicKey, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bCarriedVia).Get(postKey(author, id))
		if len(v) == 32 {
			via, ok = identity.PublicKey(v), true
		}
		return nil
	})
	return via, ok, err
}

// ParcelAck is a reader's acknowledgement secret for the parcel of a slot at seq.
type ParcelAck struct {
	Slot   []byte
	Seq    uint64
	Secret []byte
}

// AckParcel takes one acknowledgement (AckParcels); it reports whether the secret
// matched and whether the parcel went.
func (s *Store) AckParcel(slot []byte, seq uint64, secret []byte) (matched, dropped bool, err error) {
	m, d, err := s.AckParcels([]ParcelAck{{Slot: slot, Seq: seq, Secret: secret}})
	return m == 1, d == 1, err
}

// AckParcels takes readers' acknowledgement secrets in one transaction; a carried parcel
// every addressed reader acknowledged is dropped (own parcels stay: the author serves
// them to its carriers). It counts the secrets that matched and the parcels dropped.
func (s *Store) AckParcels(acks []ParcelAck) (matched, dropped int, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		matched, dropped = 0, 0
		for _, a := range acks {
			m, d, err := ackLocked(tx, a)
			if err != nil {
				return err
			}
			if m {
				matched++
			}
			if d {
				dropped++
			}
		}
		return nil
	})
	return matched, dropped, err
}

func ackLocked(tx *bolt.Tx, a ParcelAck) (matched, dropped bool, err error) {
	sum := sha256.Sum256(a.Secret)
	m, ok := getParcelMeta(tx, a.Slot)
	if !ok || m.Seq != a.Seq {
		return false, false, nil
	}
	left := m.Acks[:0:0]
	for _, h := range m.Acks {
		if bytes.Equal(h, sum[:]) {
			matched = true
			continue
		}
		left = append(left, h)
	}
	if !matched {
		return false, false, nil
	}
	if len(left) == 0 && !m.Own {
		return true, true, dropParcel(tx, a.Slot)
	}
	m.Acks = left
	mb, err := json.Marshal(m)
	if err != nil {
		return true, false, err
	}
	return true, false, tx.Bucket(bParcelMeta).Put(a.Slot, mb)
}

// ExpireCarried drops carried parcels received longer than retention ago; it returns
// how many went.
func (s *Store) ExpireCarried(retention time.Duration) (int, error) {
	n := 0
	cut := s.now().Add(-retention).UnixMilli()
	err := s.db.Update(func(tx *bolt.Tx) error {
		n = 0
		var old [][]byte
		tx.Bucket(bParcelMeta).ForEach(func(k, v []byte) error {
			var m parcelMeta
			if json.Unmarshal(v, &m) == nil && !m.Own && m.Received < cut {
				old = append(old, bytes.Clone(k))
			}
			return nil
		})
		for _, k := range old {
			if err := dropParcel(tx, k); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// CarriedUse is what this node holds, sealed, for one friend (From) or of its own.
type CarriedUse struct {
	From    identity.PublicKey
	Own     bool
	Parcels int
	Bytes   uint64
}

// CarriedUsage sums the parcels held, per friend who handed them over and its own.
func (s *Store) CarriedUsage() ([]CarriedUse, error) {
	var out []CarriedUse
	err := s.db.View(func(tx *bolt.Tx) error {
		self := s.selfIn(tx)
		return tx.Bucket(bCarryUse).ForEach(func(k, v []byte) error {
			if len(k) != 32 || len(v) != 16 {
				return nil
			}
			from := identity.PublicKey(k)
			out = append(out, CarriedUse{From: from, Own: from == self, Parcels: int(getU64(v[:8])), Bytes: getU64(v[8:])})
			return nil
		})
	})
	return out, err
}

// Defaults of CarryPolicy.
const (
	// DefaultCarryQuota is the bytes kept per friend: a few hundred MiB.
	DefaultCarryQuota = 256 << 20
	// DefaultCarryRetention is how long a carried parcel is kept at most.
	DefaultCarryRetention = 30 * 24 * time.Hour
)

// WithDefaults fills a zero quota and retention with the defaults.
func (p CarryPolicy) WithDefaults() CarryPolicy {
	if p.Quota == 0 {
		p.Quota = DefaultCarryQuota
	}
	if p.Retention == 0 {
		p.Retention = DefaultCarryRetention
	}
	return p
}
