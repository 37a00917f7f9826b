package carry

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// TestPaddingClasses: whatever a post's length, the plaintext a carrier could measure is
// within 8 bytes below a size class, across the 1 KiB and 2 KiB classes' edges; and
// padded's own edges where the doubling gives way to 64 KiB steps.
func TestPaddingClasses(t *testing.T) {
	for _, tc := range []struct{ in, want int }{{128<<10 - 1, 128 << 10}, {128 << 10, 128 << 10}, {128<<10 + 1, 192 << 10}} {
		if got := padded(tc.in); got != tc.want {
			t.Errorf("padded(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
	author, bob := newKey(t), newKey(t)
	for n := 850; n < 2100; n += 3 {
		env, pl, err := post.Seal(author, post.Draft{Text: strings.Repeat("x", n), Now: now})
		if err != nil {
			t.Fatal(err)
		}
		pe, err := Make(author, Post{Envelope: env, Payload: pl}, []identity.PublicKey{bob.Public()}, 1, now)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Check(pe)
		if err != nil {
			t.Fatal(err)
		}
		pt := len(p.GetSealed()) - headerSize - stanzaSize - 16 // one reader, the body's tag
		if c := padded(pt); c-pt > 8 {
			t.Fatalf("a %d-byte text seals %d plaintext bytes, %d below its class %d; want at most 8", n, pt, c-pt, c)
		}
	}
}

// TestSealReaderBounds: exactly maxReaders readers seal and open (the last reader's
// stanza too); one more is refused. An empty plaintext seals and opens, and a reader
// it is not for learns ErrNotForMe, not a panic.
func TestSealReaderBounds(t *testing.T) {
	me := newKey(t)
	readers := make([]identity.PublicKey, maxReaders)
	for i := range readers {
		readers[i] = newKey(t).Public()
	}
	readers[maxReaders-1] = me.Public()
	s, err := Seal([]byte("to many"), readers, nil)
	if err != nil {
		t.Fatalf("Seal to %d readers: %v", maxReaders, err)
	}
	if pt, _, err := Unseal(s.Bytes, me); err != nil || string(pt) != "to many" {
		t.Fatalf("Unseal by one of %d readers: %q, %v", maxReaders, pt, err)
	}
	if _, err := Seal([]byte("x"), append(readers, me.Public()), nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("Seal to %d readers: %v, want ErrMalformed", maxReaders+1, err)
	}

	empty, err := Seal(nil, []identity.PublicKey{me.Public()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pt, _, err := Unseal(empty.Bytes, me); err != nil || len(pt) != 0 {
		t.Errorf("an empty plaintext: %q, %v", pt, err)
	}
	if _, _, err := Unseal(empty.Bytes, newKey(t)); !errors.Is(err, ErrNotForMe) {
		t.Errorf("an empty plaintext opened by another: %v, want ErrNotForMe", err)
	}
	// Cut anywhere short of the body's tag: malformed, never opened.
	for cut := headerSize + stanzaSize - 1; cut < len(empty.Bytes); cut++ {
		if _, _, err := Unseal(empty.Bytes[:cut], me); !errors.Is(err, ErrMalformed) {
			t.Errorf("cut to %d of %d bytes: %v, want ErrMalformed", cut, len(empty.Bytes), err)
		}
	}
}

// TestCheckBounds: a carrier's Check takes a parcel at its bounds (MaxSealed sealed
// bytes, maxReaders acknowledgements) and refuses one past them as malformed; an
// envelope past maxEnvelope that does not verify is malformed, one within it tampered.
func TestCheckBounds(t *testing.T) {
	k := newKey(t)
	sign := func(p *syncv1.Parcel) *signedv1.Envelope {
		t.Helper()
		pub := k.Public()
		p.Format, p.Slot, p.Seq = Format, pub.Bytes(), 1
		env, err := signed.Seal(k, identity.ContextParcel, p)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	acks := func(n int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = make([]byte, 32)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		sealed int
		acks   int
		ok     bool
	}{
		{"MaxSealed bytes", MaxSealed, 1, true},
		{"one byte more", MaxSealed + 1, 1, false},
		{"maxReaders acknowledgements", 100, maxReaders, true},
		{"one more", 100, maxReaders + 1, false},
	} {
		_, err := Check(sign(&syncv1.Parcel{Sealed: make([]byte, tc.sealed), Acks: acks(tc.acks)}))
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	env := sign(&syncv1.Parcel{Sealed: []byte("x"), Acks: acks(1)})
	for _, tc := range []struct {
		size int
		want error
	}{{maxEnvelope, ErrTampered}, {maxEnvelope + 1, ErrMalformed}} {
		bad := proto.Clone(env).(*signedv1.Envelope)
		bad.Payload = make([]byte, tc.size)
		if _, err := Check(bad); !errors.Is(err, tc.want) {
			t.Errorf("an unverifiable payload of %d bytes: %v, want %v", tc.size, err, tc.want)
		}
	}
}

// edgeHome is an author's store in home with friend bob.
func edgeHome(t *testing.T, home string) (*store.Store, *identity.Key) {
	t.Helper()
	st, err := store.Open(store.Config{Home: home, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Init(newKey(t), "me"); err != nil {
		t.Fatal(err)
	}
	bob := newKey(t)
	if err := st.PutFriend(store.Friend{Key: bob.Public(), Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	return st, bob
}

// TestSealerClockAndRetry: parcels carry the sealer's clock; a resealed slot's sequence
// grows even when the clock stands still (so carriers replace the older parcel); a
// Refresh that failed is retried at the next call, though nothing changed since.
func TestSealerClockAndRetry(t *testing.T) {
	home := t.TempDir()
	st, bob := edgeHome(t, home)
	clock := time.UnixMilli(1_700_000_000_000)
	s := NewSealer(st, func() time.Time { return clock })
	photo, err := st.PutBlob(strings.NewReader("a photo"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := st.Publish(store.NewPost{Text: "hello", Audience: feed.Default(), Attachments: []*postv1.Attachment{photo}})
	if err != nil {
		t.Fatal(err)
	}
	// The photo's bytes are gone from the disk: sealing fails, and says so.
	path := store.BlobPath(home, photo.GetSha256())
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Refresh(); err == nil {
		t.Fatalf("Refresh without the photo's bytes: %d parcels, no error", n)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Refresh(); err != nil || n != 1 {
		t.Fatalf("Refresh after the failed one: %d parcels, %v; want the post's parcel", n, err)
	}
	first := bobsParcel(t, st, bob)
	if first.GetCreatedUnixMs() != clock.UnixMilli() || first.GetSeq() != uint64(clock.UnixMicro()) {
		t.Fatalf("parcel created %d, seq %d; want the sealer's clock %d (seq %d)", first.GetCreatedUnixMs(), first.GetSeq(), clock.UnixMilli(), clock.UnixMicro())
	}
	if err := st.SetAudience(id, feed.Audience{People: []identity.ID{bob.ID()}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Refresh(); err != nil {
		t.Fatal(err)
	}
	if again := bobsParcel(t, st, bob); again.GetSeq() <= first.GetSeq() {
		t.Fatalf("resealed at the same clock: seq %d after %d; want it to grow", again.GetSeq(), first.GetSeq())
	}
}

// bobsParcel returns the newest parcel of the store's log that bob opens as a post.
func bobsParcel(t *testing.T, st *store.Store, bob *identity.Key) *syncv1.Parcel {
	t.Helper()
	all, _ := opens(t, st, bob)
	var out *syncv1.Parcel
	for _, env := range all {
		o, err := Open(env, bob)
		if err != nil || o.Post == nil {
			continue
		}
		p, _ := Check(env)
		if out == nil || p.GetSeq() > out.GetSeq() {
			out = p
		}
	}
	if out == nil {
		t.Fatal("bob opens no parcel")
	}
	return out
}

// TestSealerCarriesPhotos: a post with a photo of ordinary size (far past the 128 KiB
// bound of other signed records) is sealed, checked by a carrier and opened by a reader
// with the photo's bytes.
func TestSealerCarriesPhotos(t *testing.T) {
	st, bob := edgeHome(t, t.TempDir())
	s := NewSealer(st, nil)
	photo := bytes.Repeat([]byte("jpeg"), 300<<10/4) // 300 KiB
	att, err := st.PutBlob(bytes.NewReader(photo))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Publish(store.NewPost{Text: "a photo", Audience: feed.Default(), Attachments: []*postv1.Attachment{att}}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Refresh(); err != nil || n != 1 {
		t.Fatalf("Refresh: %d parcels, %v; want the photo's post sealed", n, err)
	}
	_, o := opens(t, st, bob)
	if len(o) != 1 || o[0].Post == nil || len(o[0].Post.Blobs) != 1 || !bytes.Equal(o[0].Post.Blobs[0].Data, photo) {
		t.Fatalf("bob opens %d parcels; want the post with its 300 KiB photo", len(o))
	}
}
