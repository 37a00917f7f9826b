package carry

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/store"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

// ownHome is an author's store with friends bob and carol.
func ownHome(t *testing.T) (*store.Store, *identity.Key, *identity.Key, *identity.Key) {
	t.Helper()
	st, err := store.Open(store.Config{Home: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	me, bob, carol := newKey(t), newKey(t), newKey(t)
	if err := st.Init(me, "me"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*identity.Key{bob, carol} {
		if err := st.PutFriend(store.Friend{Key: f.Public(), Name: "f"}); err != nil {
			t.Fatal(err)
		}
	}
	return st, me, bob, carol
}

// parcels lists the store's parcel log, opened (or not) by k.
func opens(t *testing.T, st *store.Store, k *identity.Key) (all []*signedv1.Envelope, opened []Opened) {
	t.Helper()
	pg, err := st.ParcelsSince(0, 1000, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range pg.Parcels {
		o, err := Open(env, k)
		if errors.Is(err, ErrNotForMe) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		opened = append(opened, o)
	}
	return pg.Parcels, opened
}

// The sealer keeps own parcels in step with posts and audiences, resealing only what
// changed: readers are exactly the friends who may see the post now; a friend it was
// withdrawn from gets a revocation; a post too large for a parcel is not carried.
func TestSealerFollowsAudiences(t *testing.T) {
	st, me, bob, carol := ownHome(t)
	s := NewSealer(st, func() time.Time { return time.UnixMilli(1_800_000_000_000) })
	refresh := func(want int) {
		t.Helper()
		n, err := s.Refresh()
		if err != nil || n != want {
			t.Fatalf("Refresh: %d parcels (%v), want %d", n, err, want)
		}
	}
	refresh(0)
	id, err := st.Publish(store.NewPost{Text: "for my friends", Audience: feed.Default()})
	if err != nil {
		t.Fatal(err)
	}
	refresh(1)
	refresh(0) // nothing changed
	for _, k := range []*identity.Key{bob, carol} {
		if _, o := opens(t, st, k); len(o) != 1 || o[0].Post.Payload.GetText() != "for my friends" || o[0].Author != me.Public() {
			t.Fatalf("a friend opens %d parcels", len(o))
		}
	}
	if _, o := opens(t, st, me); len(o) != 0 {
		t.Error("the author's own key opens a parcel addressed to friends")
	}
	if err := st.SetAudience(id, feed.Audience{People: []identity.ID{bob.ID()}}); err != nil {
		t.Fatal(err)
	}
	refresh(2) // the post for bob alone, a revocation for carol
	all, o := opens(t, st, carol)
	if len(all) != 2 || len(o) != 1 || o[0].Post != nil || o[0].Revoked != id {
		t.Fatalf("carol: %d parcels, opens %+v; want only her revocation", len(all), o)
	}
	if _, o := opens(t, st, bob); len(o) != 1 || o[0].Post == nil || o[0].Post.Payload.GetVersion() != 2 {
		t.Fatalf("bob opens %+v; want version 2 of the post", o)
	}
	if err := st.SetAudience(id, feed.Audience{Me: true}); err != nil {
		t.Fatal(err)
	}
	refresh(3) // sealed to the author alone now; a revocation for bob, carol's at the new version
	if _, o := opens(t, st, me); len(o) != 1 || o[0].Post == nil {
		t.Fatalf("the author opens %d parcels; want the post sealed to it alone", len(o))
	}
	if _, o := opens(t, st, bob); len(o) != 1 || o[0].Post != nil {
		t.Fatalf("bob opens %+v; want only his revocation", o)
	}

	// The devices hook: extra readers get every parcel.
	device := newKey(t)
	s.Readers = func() []identity.PublicKey { return []identity.PublicKey{device.Public()} }
	if _, err := st.Publish(store.NewPost{Text: "with my devices"}); err != nil {
		t.Fatal(err)
	}
	refresh(2) // the new post, and the old one resealed with the device among its readers
	if _, o := opens(t, st, device); len(o) != 2 {
		t.Errorf("the device opens %d parcels, want 2", len(o))
	}

	att, err := st.PutBlob(bytes.NewReader(make([]byte, MaxSealed+1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Publish(store.NewPost{Text: "too large", Attachments: []*postv1.Attachment{att}}); err != nil {
		t.Fatal(err)
	}
	refresh(0)
	small, err := st.PutBlob(strings.NewReader("small photo"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Publish(store.NewPost{Text: "with a photo", Attachments: []*postv1.Attachment{small}}); err != nil {
		t.Fatal(err)
	}
	refresh(1)
	_, o = opens(t, st, bob)
	found := false
	for _, p := range o {
		if p.Post != nil && p.Post.Payload.GetText() == "with a photo" {
			found = len(p.Post.Blobs) == 1 && string(p.Post.Blobs[0].Data) == "small photo"
		}
	}
	if !found {
		t.Error("the photo did not ride in its post's parcel")
	}
}
