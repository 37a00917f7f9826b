package carry

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/post"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

func newKey(t testing.TB) *identity.Key {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var now = time.UnixMilli(1_800_000_000_000)

// fixture is an author's post with one attachment.
func fixture(t *testing.T, author *identity.Key, text string) Post {
	t.Helper()
	data := []byte("attachment bytes of " + text)
	sum := sha256.Sum256(data)
	env, pl, err := post.Seal(author, post.Draft{Text: text, Now: now,
		Attachments: []*postv1.Attachment{{Sha256: sum[:], Size: uint64(len(data)), MediaType: "text/plain", FileName: "a.txt"}}})
	if err != nil {
		t.Fatal(err)
	}
	return Post{Envelope: env, Payload: pl, Blobs: []Blob{{SHA256: sum[:], Data: data}}}
}

func TestSealOpenByAudience(t *testing.T) {
	author, bob, carol, dave := newKey(t), newKey(t), newKey(t), newKey(t)
	p := fixture(t, author, "for bob and carol")
	env, err := Make(author, p, []identity.PublicKey{bob.Public(), carol.Public()}, 7, now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		who  *identity.Key
		want error
	}{
		{"bob in the audience", bob, nil},
		{"carol in the audience", carol, nil},
		{"dave outside", dave, ErrNotForMe},
		{"the author (not addressed)", author, ErrNotForMe},
	}
	acks := map[string]bool{}
	parcel, err := Check(env)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range parcel.GetAcks() {
		acks[string(a)] = true
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := Open(env, tc.who)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				return
			}
			if o.Author != author.Public() || o.Post.Payload.GetText() != "for bob and carol" || len(o.Post.Blobs) != 1 {
				t.Errorf("opened %+v", o)
			}
			if !acks[string(AckHash(o.Ack))] {
				t.Error("the reader's acknowledgement secret does not match any of the parcel's hashes")
			}
		})
	}
	if len(parcel.GetAcks()) != 2 || parcel.GetSeq() != 7 || parcel.GetCreatedUnixMs() != now.UnixMilli() {
		t.Errorf("parcel header: %d acks, seq %d, created %d", len(parcel.GetAcks()), parcel.GetSeq(), parcel.GetCreatedUnixMs())
	}
}

// What a carrier holds names neither the author nor any reader, nor any word of the post.
func TestCarrierLearnsNoNames(t *testing.T) {
	author, bob := newKey(t), newKey(t)
	p := fixture(t, author, "the secret words")
	env, err := Make(author, p, []identity.PublicKey{bob.Public()}, 1, now)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := proto.Marshal(env)
	apub, bpub := author.Public(), bob.Public()
	bx, _ := x25519Public(bpub)
	afp, bfp := apub.Fingerprint(), bpub.Fingerprint()
	for name, needle := range map[string][]byte{
		"author key": apub[:], "reader key": bpub[:], "reader X25519 key": bx.Bytes(),
		"author fingerprint": []byte(afp), "reader fingerprint": []byte(bfp), "author key hash": sum(apub[:]), "reader key hash": sum(bpub[:]),
		"text": []byte("the secret words"), "attachment": p.Blobs[0].Data, "attachment hash": p.Blobs[0].SHA256,
		"post id": p.Payload.GetId(),
	} {
		if bytes.Contains(raw, needle) {
			t.Errorf("the parcel's bytes hold the %s", name)
		}
	}
	// The slot key is stable per post (a newer parcel replaces the older) and not the author's.
	env2, err := Make(author, p, []identity.PublicKey{bob.Public()}, 2, now)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(env.GetSigner(), env2.GetSigner()) || bytes.Equal(env.GetSigner(), apub[:]) {
		t.Error("slot key: want the same key for two versions of a post, and not the author's key")
	}
	other := fixture(t, author, "another post")
	env3, _ := Make(author, other, []identity.PublicKey{bob.Public()}, 1, now)
	if bytes.Equal(env.GetSigner(), env3.GetSigner()) {
		t.Error("two posts share a slot key: carriers could link an author's posts")
	}
}

// Sizes are rounded to a class: a carrier learns a size class, not a length.
func TestPaddedSizes(t *testing.T) {
	author, bob := newKey(t), newKey(t)
	size := func(text string) int {
		env, _, err := post.Seal(author, post.Draft{Text: text, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		pe, err := Make(author, Post{Envelope: env, Payload: mustOpen(t, env)}, []identity.PublicKey{bob.Public()}, 1, now)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := Check(pe)
		return len(p.GetSealed())
	}
	if a, b := size("hi"), size("a somewhat longer text, still short"); a != b {
		t.Errorf("two short posts seal to %d and %d bytes; want one size class", a, b)
	}
	for _, tc := range []struct{ in, want int }{{1, 1024}, {1024, 1024}, {1025, 2048}, {64 << 10, 64 << 10}, {64<<10 + 1, 128 << 10}} {
		if got := padded(tc.in); got != tc.want {
			t.Errorf("padded(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func mustOpen(t *testing.T, env *signedv1.Envelope) *postv1.Payload {
	t.Helper()
	p, err := post.Open(env)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// resign alters a parcel and signs it with a key of the carrier's own.
func resign(t *testing.T, env *signedv1.Envelope, alter func(*syncv1.Parcel)) *signedv1.Envelope {
	t.Helper()
	p := new(syncv1.Parcel)
	if err := proto.Unmarshal(env.GetPayload(), p); err != nil {
		t.Fatal(err)
	}
	alter(p)
	k := newKey(t)
	pub := k.Public()
	p.Slot = pub.Bytes()
	out, err := signed.Seal(k, identity.ContextParcel, p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// reseal builds a parcel around contents of the carrier's choosing, sealed to bob.
func reseal(t *testing.T, cp *syncv1.CarriedPost, bob *identity.Key) *signedv1.Envelope {
	t.Helper()
	cp.Format = Format
	pt, _ := proto.Marshal(cp)
	s, err := Seal(pt, []identity.PublicKey{bob.Public()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	k := newKey(t)
	pub := k.Public()
	env, err := signed.Seal(k, identity.ContextParcel, &syncv1.Parcel{Format: Format, Slot: pub.Bytes(), Seq: 1, Acks: s.Acks, Sealed: s.Bytes})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// Every way a carrier can alter a parcel is refused (ErrTampered or ErrMalformed), never
// opened.
func TestAlteredParcelsRefused(t *testing.T) {
	author, bob, mallory := newKey(t), newKey(t), newKey(t)
	p := fixture(t, author, "for bob")
	env, err := Make(author, p, []identity.PublicKey{bob.Public()}, 3, now)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(p *syncv1.Parcel) { p.Sealed[len(p.Sealed)-5] ^= 1 }
	forged, _, _ := post.Seal(mallory, post.Draft{Text: "forged", Now: now})
	badSig := proto.Clone(p.Envelope).(*signedv1.Envelope)
	badSig.Signature[0] ^= 1
	otherReader := newKey(t)
	rev, _ := signed.Seal(author, identity.ContextCarriedRevocation, &syncv1.CarriedRevocation{Author: author.Public().Bytes(), PostId: p.Payload.GetId(), Version: 1, Reader: otherReader.Public().Bytes()})
	tests := []struct {
		name string
		env  *signedv1.Envelope
		want error
	}{
		{"body flipped, slot signature kept", func() *signedv1.Envelope {
			e := proto.Clone(env).(*signedv1.Envelope)
			q := new(syncv1.Parcel)
			proto.Unmarshal(e.GetPayload(), q)
			flip(q)
			e.Payload, _ = proto.Marshal(q)
			return e
		}(), ErrTampered},
		{"body flipped, re-signed by the carrier", resign(t, env, flip), ErrTampered},
		{"seq raised, slot signature kept", func() *signedv1.Envelope {
			e := proto.Clone(env).(*signedv1.Envelope)
			q := new(syncv1.Parcel)
			proto.Unmarshal(e.GetPayload(), q)
			q.Seq++
			e.Payload, _ = proto.Marshal(q)
			return e
		}(), ErrTampered},
		{"slot field names another key", resign(t, env, func(p *syncv1.Parcel) {}), nil},
		{"unknown format", resign(t, env, func(p *syncv1.Parcel) { p.Format = 2 }), ErrMalformed},
		{"no acknowledgement hashes", resign(t, env, func(p *syncv1.Parcel) { p.Acks = nil }), ErrMalformed},
		{"short acknowledgement hash", resign(t, env, func(p *syncv1.Parcel) { p.Acks[0] = p.Acks[0][:5] }), ErrMalformed},
		{"seq zero", resign(t, env, func(p *syncv1.Parcel) { p.Seq = 0 }), ErrMalformed},
		{"truncated", resign(t, env, func(p *syncv1.Parcel) { p.Sealed = p.Sealed[:40] }), ErrMalformed},
		{"post signed by someone else, claiming nothing", reseal(t, &syncv1.CarriedPost{Post: forged}, bob), nil},
		{"post with a broken signature", reseal(t, &syncv1.CarriedPost{Post: badSig, Blobs: []*syncv1.CarriedBlob{{Sha256: p.Blobs[0].SHA256, Data: p.Blobs[0].Data}}}, bob), ErrTampered},
		{"attachment altered", reseal(t, &syncv1.CarriedPost{Post: p.Envelope, Blobs: []*syncv1.CarriedBlob{{Sha256: p.Blobs[0].SHA256, Data: []byte("other bytes")}}}, bob), ErrTampered},
		{"attachment missing", reseal(t, &syncv1.CarriedPost{Post: p.Envelope}, bob), ErrTampered},
		{"extra blob", reseal(t, &syncv1.CarriedPost{Post: p.Envelope, Blobs: []*syncv1.CarriedBlob{{Sha256: p.Blobs[0].SHA256, Data: p.Blobs[0].Data}, {Sha256: make([]byte, 32), Data: []byte("x")}}}, bob), ErrTampered},
		{"post and revocation both", reseal(t, &syncv1.CarriedPost{Post: forged, Revocation: rev}, bob), ErrTampered},
		{"neither post nor revocation", reseal(t, &syncv1.CarriedPost{}, bob), ErrTampered},
		{"revocation for another reader", reseal(t, &syncv1.CarriedPost{Revocation: rev}, bob), ErrTampered},
		{"revocation signed by someone else", reseal(t, &syncv1.CarriedPost{Revocation: func() *signedv1.Envelope {
			e, _ := signed.Seal(mallory, identity.ContextCarriedRevocation, &syncv1.CarriedRevocation{Author: author.Public().Bytes(), PostId: p.Payload.GetId(), Version: 1, Reader: bob.Public().Bytes()})
			return e
		}()}, bob), ErrTampered},
		{"revocation under the post context", reseal(t, &syncv1.CarriedPost{Revocation: p.Envelope}, bob), ErrTampered},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := Open(tc.env, bob)
			if tc.want == nil {
				// Contents any carrier may legitimately seal: opened for what they are,
				// signed by their own author, never passed off as the author's.
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if tc.name == "post signed by someone else, claiming nothing" && o.Author != mallory.Public() {
					t.Errorf("author %s, want mallory's key", o.Author.Short())
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRevocationOpens(t *testing.T) {
	author, bob, carol := newKey(t), newKey(t), newKey(t)
	id, _ := post.NewID(nil)
	env, err := MakeRevocation(author, id, 4, bob.Public(), 9, now)
	if err != nil {
		t.Fatal(err)
	}
	o, err := Open(env, bob)
	if err != nil || o.Post != nil || o.Revoked != id || o.RevokedAt != 4 || o.Author != author.Public() {
		t.Fatalf("revocation opened as %+v, %v", o, err)
	}
	if _, err := Open(env, carol); !errors.Is(err, ErrNotForMe) {
		t.Errorf("another reader opened a revocation: %v", err)
	}
	pe, _ := Make(author, fixture(t, author, "x"), []identity.PublicKey{bob.Public()}, 1, now)
	if bytes.Equal(env.GetSigner(), pe.GetSigner()) {
		t.Error("a revocation shares its slot with a post's parcel")
	}
}

func TestSealBounds(t *testing.T) {
	if _, err := Seal([]byte("x"), nil, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("sealed to nobody: %v", err)
	}
	k := newKey(t)
	if _, _, err := Unseal([]byte{2, 0}, k); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown version: %v", err)
	}
	s, err := Seal([]byte("x"), []identity.PublicKey{k.Public()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	zero := bytes.Clone(s.Bytes)
	zero[1+shareSize], zero[2+shareSize] = 0, 0
	if _, _, err := Unseal(zero, k); !errors.Is(err, ErrMalformed) {
		t.Errorf("zero stanzas: %v", err)
	}
	many := bytes.Clone(s.Bytes)
	many[1+shareSize], many[2+shareSize] = 0xff, 0xff
	if _, _, err := Unseal(many, k); !errors.Is(err, ErrMalformed) {
		t.Errorf("more stanzas than bytes: %v", err)
	}
	big := fixture(t, k, "big")
	big.Blobs[0].Data = make([]byte, MaxSealed)
	if _, err := Make(k, big, []identity.PublicKey{k.Public()}, 1, now); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a post larger than a parcel: %v", err)
	}
}

func FuzzCheckOpen(f *testing.F) {
	author, bob := newKey(f), newKey(f)
	env, _, _ := post.Seal(author, post.Draft{Text: "fuzz", Now: now})
	pl, _ := post.Open(env)
	pe, _ := Make(author, Post{Envelope: env, Payload: pl}, []identity.PublicKey{bob.Public()}, 1, now)
	raw, _ := proto.Marshal(pe)
	f.Add(raw)
	f.Fuzz(func(t *testing.T, b []byte) {
		e := new(signedv1.Envelope)
		if proto.Unmarshal(b, e) != nil {
			return
		}
		o, err := Open(e, bob)
		if err == nil && o.Post == nil && o.Revoked == (post.ID{}) {
			t.Fatal("opened nothing without an error")
		}
	})
}

func sum(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:4] // age's ssh-ed25519 stanzas carry 4 bytes of this: a tag that would name the reader
}
