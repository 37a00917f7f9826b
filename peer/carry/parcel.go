package carry

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/post"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// Format is the parcel format Make writes and Check reads (Parcel.format, and
// CarriedPost.format inside).
const Format = 1

// MaxSealed bounds a parcel's sealed bytes: one parcel fits a sync answer (gRPC's 4 MiB
// message limit). A post whose attachments do not fit is not carried; it still reaches
// readers from its author.
const MaxSealed = 3 << 20

// maxEnvelope bounds a parcel envelope's payload before any cryptography.
const maxEnvelope = MaxSealed + maxReaders*40 + 1024

// Slot kinds: a post's parcel, and one reader's revocation of it.
const (
	kindPost       = 'p'
	kindRevocation = 'r'
)

// Blob is one attachment's bytes, to seal beside its post.
type Blob struct {
	SHA256 []byte
	Data   []byte
}

// Post is what Make seals: the author's own signed post and its attachments' bytes.
type Post struct {
	Envelope *signedv1.Envelope
	Payload  *postv1.Payload
	Blobs    []Blob
}

// padded rounds n up to a size class (1 KiB, doubling to 64 KiB, then 64 KiB steps), so
// a carrier learns a size class, not a post's length.
func padded(n int) int {
	c := 1 << 10
	for c < n && c < 64<<10 {
		c <<= 1
	}
	if n <= c {
		return c
	}
	return (n + 64<<10 - 1) / (64 << 10) * (64 << 10)
}

// seal marshals cp padded, seals it to readers and signs the parcel with the slot key.
func seal(slot *identity.Key, cp *syncv1.CarriedPost, readers []identity.PublicKey, seq uint64, now time.Time) (*signedv1.Envelope, error) {
	cp.Format = Format
	n := proto.Size(cp)
	if pad := padded(n+8) - n - 8; pad > 0 { // 8: room for the padding field's own tag and length
		cp.Padding = make([]byte, pad)
	}
	pt, err := proto.MarshalOptions{Deterministic: true}.Marshal(cp)
	if err != nil {
		return nil, err
	}
	s, err := Seal(pt, readers, nil)
	if err != nil {
		return nil, err
	}
	if len(s.Bytes) > MaxSealed {
		return nil, fmt.Errorf("%w: %d bytes sealed, limit %d", ErrTooLarge, len(s.Bytes), MaxSealed)
	}
	pub := slot.Public()
	return signed.Seal(slot, identity.ContextParcel, &syncv1.Parcel{
		Format: Format, Slot: pub.Bytes(), Seq: seq, CreatedUnixMs: now.UnixMilli(), Acks: s.Acks, Sealed: s.Bytes,
	})
}

// Make seals author's post p to readers as the parcel of p's slot, numbered seq (a
// higher seq replaces a lower one at carriers).
func Make(author *identity.Key, p Post, readers []identity.PublicKey, seq uint64, now time.Time) (*signedv1.Envelope, error) {
	slot, err := slotKey(author, kindPost, p.Payload.GetId())
	if err != nil {
		return nil, err
	}
	cp := &syncv1.CarriedPost{Post: p.Envelope}
	for _, b := range p.Blobs {
		cp.Blobs = append(cp.Blobs, &syncv1.CarriedBlob{Sha256: b.SHA256, Data: b.Data})
	}
	return seal(slot, cp, readers, seq, now)
}

// MakeRevocation seals, to reader alone, author's signed word that post id up to
// version is no longer for it: a revoked reader learns it through any carrier.
func MakeRevocation(author *identity.Key, id post.ID, version uint64, reader identity.PublicKey, seq uint64, now time.Time) (*signedv1.Envelope, error) {
	slot, err := slotKey(author, kindRevocation, append(id[:], reader[:]...))
	if err != nil {
		return nil, err
	}
	pub := author.Public()
	rev, err := signed.Seal(author, identity.ContextCarriedRevocation, &syncv1.CarriedRevocation{
		Author: pub.Bytes(), PostId: id[:], Version: version, Reader: reader.Bytes(),
	})
	if err != nil {
		return nil, err
	}
	return seal(slot, &syncv1.CarriedPost{Revocation: rev}, []identity.PublicKey{reader}, seq, now)
}

// Check verifies a parcel envelope as a carrier can: signed by the slot key it names,
// of this format, within bounds. It learns nothing of the contents.
func Check(env *signedv1.Envelope) (*syncv1.Parcel, error) {
	// A parcel holds photos: far more than signed.MaxPayload, the bound of other records.
	signer, err := signed.Verify(env, identity.ContextParcel, maxEnvelope)
	if errors.Is(err, signed.ErrTooLarge) || errors.Is(err, signed.ErrMissing) {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTampered, err)
	}
	p := new(syncv1.Parcel)
	if err := proto.Unmarshal(env.GetPayload(), p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := signed.CheckKeyField(signer, p.GetSlot()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTampered, err)
	}
	if p.GetFormat() != Format {
		return nil, fmt.Errorf("%w: format %d, this kith reads %d", ErrMalformed, p.GetFormat(), Format)
	}
	if len(p.GetSealed()) > MaxSealed || len(p.GetAcks()) == 0 || len(p.GetAcks()) > maxReaders || p.GetSeq() == 0 {
		return nil, fmt.Errorf("%w: %d sealed bytes, %d readers, seq %d", ErrMalformed, len(p.GetSealed()), len(p.GetAcks()), p.GetSeq())
	}
	for _, a := range p.GetAcks() {
		if len(a) != sha256.Size {
			return nil, fmt.Errorf("%w: acknowledgement hash of %d bytes", ErrMalformed, len(a))
		}
	}
	return p, nil
}

// Opened is a parcel a reader opened and verified.
type Opened struct {
	// Author is the key that signed the post (or the revocation).
	Author identity.PublicKey
	// Post is the author's verified post, nil for a revocation.
	Post *Post
	// Revoked is the revoked post's id and version, for a revocation.
	Revoked   post.ID
	RevokedAt uint64
	// Ack is this reader's acknowledgement secret.
	Ack []byte
}

// Open checks a parcel, decrypts it with me and verifies what it holds: the author's
// own signature over the post (post.Open), every attachment's bytes against the post's
// hashes and sizes, nothing extra; or a revocation signed by the author naming me.
// ErrNotForMe when it is addressed to others.
func Open(env *signedv1.Envelope, me *identity.Key) (Opened, error) {
	p, err := Check(env)
	if err != nil {
		return Opened{}, err
	}
	return OpenChecked(p, me)
}

// OpenChecked is Open for a parcel Check already returned.
func OpenChecked(p *syncv1.Parcel, me *identity.Key) (Opened, error) {
	pt, ack, err := Unseal(p.GetSealed(), me)
	if err != nil {
		return Opened{}, err
	}
	o := Opened{Ack: ack}
	cp := new(syncv1.CarriedPost)
	if err := proto.Unmarshal(pt, cp); err != nil || cp.GetFormat() != Format {
		return o, fmt.Errorf("%w: contents do not parse (format %d): %v", ErrTampered, cp.GetFormat(), err)
	}
	if (cp.GetPost() == nil) == (cp.GetRevocation() == nil) {
		return o, fmt.Errorf("%w: a parcel holds one post or one revocation", ErrTampered)
	}
	if cp.GetRevocation() != nil {
		return openRevocation(o, cp, me)
	}
	pl, err := post.Open(cp.GetPost())
	if err != nil {
		return o, fmt.Errorf("%w: %w", ErrTampered, err)
	}
	o.Author = identity.PublicKey(pl.GetAuthor())
	o.Post = &Post{Envelope: cp.GetPost(), Payload: pl}
	blobs := map[string][]byte{}
	for _, b := range cp.GetBlobs() {
		blobs[string(b.GetSha256())] = b.GetData()
	}
	for _, a := range pl.GetAttachments() {
		data, ok := blobs[string(a.GetSha256())]
		sum := sha256.Sum256(data)
		if !ok || uint64(len(data)) != a.GetSize() || !bytes.Equal(sum[:], a.GetSha256()) {
			return o, fmt.Errorf("%w: attachment %x missing or altered", ErrTampered, a.GetSha256())
		}
		delete(blobs, string(a.GetSha256()))
		o.Post.Blobs = append(o.Post.Blobs, Blob{SHA256: a.GetSha256(), Data: data})
	}
	if len(blobs) > 0 {
		return o, fmt.Errorf("%w: %d bytes blobs the post does not attach", ErrTampered, len(blobs))
	}
	return o, nil
}

func openRevocation(o Opened, cp *syncv1.CarriedPost, me *identity.Key) (Opened, error) {
	r := new(syncv1.CarriedRevocation)
	signer, err := signed.Open(cp.GetRevocation(), identity.ContextCarriedRevocation, r)
	if err != nil {
		return o, fmt.Errorf("%w: revocation: %w", ErrTampered, err)
	}
	if err := signed.CheckKeyField(signer, r.GetAuthor()); err != nil {
		return o, fmt.Errorf("%w: revocation: %w", ErrTampered, err)
	}
	mine := me.Public()
	id, err := post.ParseID(r.GetPostId())
	if err != nil || !bytes.Equal(r.GetReader(), mine[:]) || r.GetVersion() == 0 {
		return o, fmt.Errorf("%w: revocation for another reader or post", ErrTampered)
	}
	o.Author, o.Revoked, o.RevokedAt = signer, id, r.GetVersion()
	return o, nil
}
