package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sort"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/shared/identity"
)

// Versioned lists (issue 16; docs/DESIGN.md "Removals reach every device"). Every
// friend entry and every group carries the stamp of its last write, and a removal is
// kept as a tombstone with its stamp, so the person's devices converge on the latest
// write per entry whatever order they pull each other in, and a device that still holds
// an older copy cannot bring a removed entry back. Stamps live in their own bucket
// (made on first write: no schema step); an entry without one (written before stamps
// existed) counts as stamp zero, older than any stamped write.

// bListStamps maps 'f' || friend key(32) and 'g' || group name -> stamp record.
var bListStamps = []byte("liststamps")

var (
	metaListClock   = []byte("listclock")   // u64: the highest stamp time issued or seen
	metaListHorizon = []byte("listhorizon") // stamp record of the newest tombstone pruned
)

// MaxTombstones bounds the removals kept (friends and groups together). The oldest go
// first; the newest stamp pruned becomes the horizon, below which an entry this device
// does not hold is not taken from another (it may be one whose tombstone was pruned).
const MaxTombstones = 1000

// maxStampAhead is how far past this device's clock another device's stamp may be; a
// stamp further ahead would win every later write, so the answer is refused.
const maxStampAhead = 24 * 60 * 60 * 1000 // one day, in ms

// ErrStampAhead means another device's list entry is stamped too far in the future.
var ErrStampAhead = errors.New("a list entry is stamped more than a day ahead of this device's clock (check both devices' clocks)")

// Stamp orders the writes of one list entry across the person's devices: a hybrid
// logical clock (the writer's wall time in ms, but always past every stamp it has
// seen) with the writing device's key as the tie-break.
type Stamp struct {
	// MS is the stamp's time, Unix ms (zero: written before stamps existed).
	MS uint64
	// Dev is the key of the device that wrote it.
	Dev identity.PublicKey
}

// After reports whether s is a later write than o.
func (s Stamp) After(o Stamp) bool {
	if s.MS != o.MS {
		return s.MS > o.MS
	}
	return bytes.Compare(s.Dev[:], o.Dev[:]) > 0
}

// IsZero reports whether s is no stamp at all.
func (s Stamp) IsZero() bool { return s == Stamp{} }

// stampRec is a stamp and whether the entry it dates is a removal.
type stampRec struct {
	Stamp
	Removed bool
}

const stampRecLen = 8 + 32 + 1

func (r stampRec) encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, r.MS)
	b = append(b, r.Dev[:]...)
	if r.Removed {
		return append(b, 1)
	}
	return append(b, 0)
}

// decodeStampRec reads a record; a damaged one reads as no stamp, which any write beats.
func decodeStampRec(v []byte) (stampRec, bool) {
	if len(v) != stampRecLen {
		return stampRec{}, false
	}
	var r stampRec
	r.MS = binary.BigEndian.Uint64(v)
	copy(r.Dev[:], v[8:40])
	r.Removed = v[40] == 1
	return r, true
}

func friendStampKey(k identity.PublicKey) []byte { return append([]byte{'f'}, k[:]...) }
func groupStampKey(g string) []byte              { return append([]byte{'g'}, g...) }

// stampOf returns the record held for key, and whether there is one.
func stampOf(tx *bolt.Tx, key []byte) (stampRec, bool) {
	b := tx.Bucket(bListStamps)
	if b == nil {
		return stampRec{}, false
	}
	return decodeStampRec(b.Get(key))
}

func putStamp(tx *bolt.Tx, key []byte, r stampRec) error {
	b, err := tx.CreateBucketIfNotExists(bListStamps)
	if err != nil {
		return err
	}
	if err := b.Put(key, r.encode()); err != nil {
		return err
	}
	return seeStamp(tx, r.Stamp)
}

// seeStamp moves the clock up to a stamp written or taken.
func seeStamp(tx *bolt.Tx, st Stamp) error {
	meta := tx.Bucket(bMeta)
	if getU64(meta.Get(metaListClock)) >= st.MS {
		return nil
	}
	return meta.Put(metaListClock, u64(st.MS))
}

// stampLocal dates a write made on this device to key: the wall clock, or one past the
// latest stamp seen when that is later, so a write made after taking another device's
// write always beats it, whatever the two clocks say.
func (s *Store) stampLocal(tx *bolt.Tx, key []byte, removed bool) error {
	dev := s.self
	if seed := tx.Bucket(bMeta).Get(metaDevSeed); len(seed) > 0 {
		k, err := identity.FromSeed(seed)
		if err != nil {
			return err
		}
		dev = k.Public()
	}
	ms := max(uint64(s.now().UnixMilli()), getU64(tx.Bucket(bMeta).Get(metaListClock))+1)
	return putStamp(tx, key, stampRec{Stamp: Stamp{MS: ms, Dev: dev}, Removed: removed})
}

// horizon is the newest stamp of a pruned tombstone (zero: none pruned).
func horizon(tx *bolt.Tx) Stamp {
	r, _ := decodeStampRec(tx.Bucket(bMeta).Get(metaListHorizon))
	return r.Stamp
}

func raiseHorizon(tx *bolt.Tx, st Stamp) error {
	if !st.After(horizon(tx)) {
		return nil
	}
	return tx.Bucket(bMeta).Put(metaListHorizon, stampRec{Stamp: st}.encode())
}

// takes decides whether another device's write of an entry replaces what this device
// holds: a later stamp wins; with no stamp held, a stamped write wins unless it is at
// or below the horizon (its entry may be one whose removal was pruned here), and an
// unstamped one only fills a gap (held says whether the entry is here unstamped).
func takes(remote stampRec, held stampRec, stamped, present bool, hz Stamp) bool {
	if stamped {
		return remote.After(held.Stamp)
	}
	if remote.IsZero() {
		return !present && !remote.Removed && hz.IsZero()
	}
	return remote.After(hz)
}

// pruneTombstones drops the oldest tombstones beyond MaxTombstones and raises the
// horizon to the newest one dropped.
func pruneTombstones(tx *bolt.Tx) error {
	b := tx.Bucket(bListStamps)
	if b == nil {
		return nil
	}
	type tomb struct {
		key []byte
		st  Stamp
	}
	var ts []tomb
	b.ForEach(func(k, v []byte) error {
		if r, ok := decodeStampRec(v); ok && r.Removed {
			ts = append(ts, tomb{key: append([]byte(nil), k...), st: r.Stamp})
		}
		return nil
	})
	if len(ts) <= MaxTombstones {
		return nil
	}
	sort.Slice(ts, func(i, j int) bool { return ts[j].st.After(ts[i].st) })
	for _, t := range ts[:len(ts)-MaxTombstones] {
		if err := b.Delete(t.key); err != nil {
			return err
		}
		if err := raiseHorizon(tx, t.st); err != nil {
			return err
		}
	}
	return nil
}
