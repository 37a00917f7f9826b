package carry

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/store"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Sealer keeps this node's own parcels in step with its posts: a post's parcel is sealed
// anew when its version or its readers change, and each friend a post was withdrawn from
// gets a sealed revocation. It reseals only after the store reports a change of what a
// recovery kit holds (own posts, audiences, friends, groups), and only what changed.
type Sealer struct {
	st  *store.Store
	now func() time.Time
	// Readers, when set, adds readers to every own parcel beyond the friends who may see
	// the post. This is the hook for a person's own other devices (the devices issue):
	// a device key certified by the identity would be added here, and such a device,
	// always on, is then the first carrier of every post. Not used yet.
	Readers func() []identity.PublicKey

	mu      sync.Mutex      // guards changed, done, batch
	changed <-chan struct{} // the store's KitChanged at the last sealing
	done    bool
	batch   []store.OwnParcel // sealed, not stored yet
}

// NewSealer returns a Sealer over st; now is time.Now when nil.
func NewSealer(st *store.Store, now func() time.Time) *Sealer {
	if now == nil {
		now = time.Now
	}
	return &Sealer{st: st, now: now}
}

// Refresh seals what changed since the last call; it returns how many parcels it made.
func (s *Sealer) Refresh() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		select {
		case <-s.changed:
		default:
			return 0, nil
		}
	}
	changed := s.st.KitChanged()
	n, err := s.sealAll()
	if err == nil {
		s.changed, s.done = changed, true
	}
	return n, err
}

func (s *Sealer) sealAll() (int, error) {
	s.batch = s.batch[:0]
	k, err := s.st.Key()
	if err != nil {
		return 0, err
	}
	cands, err := s.st.CarryCandidates()
	if err != nil {
		return 0, err
	}
	var extra []identity.PublicKey
	if s.Readers != nil {
		extra = s.Readers()
	}
	n := 0
	for _, c := range cands {
		if err := s.sealPost(k, c, extra); err != nil {
			return n, err
		}
		if len(s.batch) >= flushEvery {
			if n, err = s.flush(n); err != nil {
				return n, err
			}
		}
	}
	return s.flush(n)
}

// flushEvery is how many parcels one transaction stores.
const flushEvery = 500

// flush stores the parcels sealed so far in one transaction.
func (s *Sealer) flush(n int) (int, error) {
	if len(s.batch) == 0 {
		return n, nil
	}
	err := s.st.PutOwnParcels(s.batch)
	n += len(s.batch)
	s.batch = s.batch[:0]
	return n, err
}

// sealPost seals c's parcel and its revocations when they changed.
func (s *Sealer) sealPost(k *identity.Key, c store.OwnCandidate, extra []identity.PublicKey) error {
	id := c.Post.ID()
	readers := append(slices.Clone(c.Readers), extra...)
	if len(readers) == 0 {
		// Nobody may read it (any more): the slot still gets a parcel, sealed to the
		// author alone, so that carriers replace what they held for former readers.
		readers = []identity.PublicKey{k.Public()}
	}
	slices.SortFunc(readers, func(a, b identity.PublicKey) int { return bytes.Compare(a[:], b[:]) })
	env, err := proto.Marshal(c.Post.Envelope)
	if err != nil {
		return err
	}
	h := sha256.New()
	h.Write(env)
	for _, r := range readers {
		h.Write(r[:])
	}
	key := store.OwnParcelKey(id, nil)
	err = s.seal(key, h.Sum(nil), func(seq uint64) (*signedv1.Envelope, error) {
		p, err := s.postOf(c)
		if err != nil {
			return nil, err
		}
		return Make(k, p, readers, seq, s.now())
	})
	if err != nil {
		return err
	}
	for _, r := range c.Revoked {
		v := c.Post.Payload.GetVersion()
		vd := sha256.Sum256(binary.BigEndian.AppendUint64(nil, v))
		err := s.seal(store.OwnParcelKey(id, &r), vd[:], func(seq uint64) (*signedv1.Envelope, error) {
			return MakeRevocation(k, id, v, r, seq, s.now())
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// postOf reads c's attachments for its parcel; ErrTooLarge when they do not fit.
func (s *Sealer) postOf(c store.OwnCandidate) (Post, error) {
	p := Post{Envelope: c.Post.Envelope, Payload: c.Post.Payload}
	total := 0
	for _, a := range c.Post.Payload.GetAttachments() {
		total += int(a.GetSize())
		if total > MaxSealed {
			return p, fmt.Errorf("%w: %d bytes of attachments", ErrTooLarge, total)
		}
		f, _, err := s.st.OpenBlob(a.GetSha256())
		if err != nil {
			return p, fmt.Errorf("attachment %x: %w", a.GetSha256()[:8], err)
		}
		data, err := io.ReadAll(io.LimitReader(f, MaxSealed+1))
		f.Close()
		if err != nil {
			return p, err
		}
		p.Blobs = append(p.Blobs, Blob{SHA256: a.GetSha256(), Data: data})
	}
	return p, nil
}

// seal stores the parcel build makes for key unless the digest is unchanged. A post too
// large to carry is skipped (it reaches readers from its author only).
func (s *Sealer) seal(key, digest []byte, build func(seq uint64) (*signedv1.Envelope, error)) error {
	old, seq, err := s.st.OwnParcelDigest(key)
	if err != nil {
		return err
	}
	if bytes.Equal(old, digest) {
		return nil
	}
	seq = max(uint64(s.now().UnixMicro()), seq+1)
	env, err := build(seq)
	if errors.Is(err, ErrTooLarge) {
		return nil
	}
	if err != nil {
		return err
	}
	p, err := Check(env)
	if err != nil {
		return err
	}
	s.batch = append(s.batch, store.OwnParcel{Key: key, Digest: digest, Envelope: env, Parcel: p})
	return nil
}
