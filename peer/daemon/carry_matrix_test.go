package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/carry"
	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// The audience matrix with a carrier (issue 17): every viewer reads the author's posts
// only through a carrier, a friend of everyone that sits outside every private audience.
// Each viewer gets exactly what the audience table says, and nothing else: the carrier
// itself, a friend removed after the posts were made, and the author's stranger (a friend
// of the carrier's) included. Posts withdrawn after the carrier took them do not come
// through it, and a reader that already held one learns of the withdrawal from it.
func TestAudienceMatrixThroughCarrier(t *testing.T) {
	author, inside, outside, stranger := matrixPeers(t)
	carrier, removed := newPeer(t, "carrier"), newPeer(t, "removed")
	befriend(t, author, carrier)
	befriend(t, carrier, author)
	befriend(t, author, removed, "close")
	befriend(t, removed, author)
	for _, p := range []*peer{inside, outside, stranger, removed} {
		befriend(t, carrier, p)
		befriend(t, p, carrier)
	}
	ids := map[string]post.ID{}
	for _, c := range matrix {
		ids[c.name] = author.publish(t, "post for "+c.name+" #matrix", c.audience(inside, outside))
	}
	// Withdrawn before its reader (outside) got it, and after its reader (inside) did.
	before := author.publish(t, "withdrawn before", feed.Audience{People: []identity.ID{outside.key.ID()}})
	after := author.publish(t, "withdrawn after", feed.Audience{People: []identity.ID{inside.key.ID()}})
	inside.sync(t, author) // the only direct pull of a viewer: it holds `after` (and the rest)
	insideDirect := inside.count(t, author)
	carrier.sync(t, author)
	if err := author.st.RemoveFriend(removed.pub()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []post.ID{before, after} {
		if err := author.st.SetAudience(id, feed.Audience{Me: true}); err != nil {
			t.Fatal(err)
		}
	}
	carrier.sync(t, author) // the carrier takes the new sealing; the author is not asked again

	viewers := []struct {
		p    *peer
		want func(audienceCase) bool
	}{
		{inside, func(c audienceCase) bool { return c.inside }},
		{outside, func(c audienceCase) bool { return c.outside }},
		{stranger, func(audienceCase) bool { return false }}, // public posts come from the author, not carriers
		{removed, func(audienceCase) bool { return false }},
		{carrier, func(c audienceCase) bool { return c.name == "friends" || c.name == "public" }}, // pulled directly, a friend in no group
	}
	leaks := 0
	for _, v := range viewers {
		if v.p != carrier {
			v.p.sync(t, carrier)
		}
		want := 0
		for _, c := range matrix {
			got, _, _ := v.p.holds(t, author, ids[c.name])
			if got != v.want(c) {
				t.Errorf("%s holds %q post: %v, want %v", v.p.name, c.name, got, v.want(c))
				if got {
					leaks++
				}
			}
			if v.want(c) {
				want++
			}
		}
		for _, id := range []post.ID{before, after} {
			if ok, _, _ := v.p.holds(t, author, id); ok {
				t.Errorf("%s holds a post withdrawn from it (%s)", v.p.name, id)
				leaks++
			}
		}
		if n := v.p.count(t, author); n != want {
			t.Errorf("%s holds %d of author's posts, want exactly %d", v.p.name, n, want)
		}
	}
	if insideDirect != 7 { // the table's six posts for inside, and `after`
		t.Errorf("inside held %d posts pulled directly; the fixture expects 7", insideDirect)
	}
	if leaks != 0 {
		t.Errorf("%d leaks through the carrier", leaks)
	}
	assertCarrierSealed(t, carrier, author)
}

// assertCarrierSealed checks what the carrier's parcel log gives a friend of its and a
// stranger to it: parcels a key outside their audience cannot open; nothing at all to a
// key the carrier does not know.
func assertCarrierSealed(t *testing.T, carrier, author *peer) {
	t.Helper()
	outsider := newPeer(t, "outsider")
	c := outsider.client(t, carrier)
	_, err := c.GetParcels(context.Background(), &syncv1.GetParcelsRequest{})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("a stranger to the carrier asked for parcels: %v, want PermissionDenied", err)
	}
	_, err = c.AckParcels(context.Background(), &syncv1.AckParcelsRequest{})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("a stranger to the carrier acknowledged parcels: %v, want PermissionDenied", err)
	}
	befriend(t, carrier, outsider)
	resp, err := c.GetParcels(context.Background(), &syncv1.GetParcelsRequest{})
	if err != nil || len(resp.GetParcels()) == 0 {
		t.Fatalf("a friend of the carrier: %d parcels, %v; want the author's parcels", len(resp.GetParcels()), err)
	}
	for _, env := range resp.GetParcels() {
		if _, err := carry.Open(env, outsider.key); !errors.Is(err, carry.ErrNotForMe) {
			t.Errorf("a parcel opened for a key outside every audience: %v", err)
		}
		if string(env.GetSigner()) == string(author.key.Public().Bytes()) {
			t.Error("a parcel is signed by its author's key: carriers would learn the author")
		}
	}
}

// A post with a photo of ordinary size (1 MiB, far past the 128 KiB bound of other
// signed records) reaches a reader through a carrier, photo and all.
func TestPhotoThroughCarrier(t *testing.T) {
	author, carrier, reader := newPeer(t, "author"), newPeer(t, "carrier"), newPeer(t, "reader")
	for _, pair := range [][2]*peer{{author, carrier}, {carrier, author}, {author, reader}, {reader, author}, {carrier, reader}, {reader, carrier}} {
		befriend(t, pair[0], pair[1])
	}
	photo := bytes.Repeat([]byte{0xd8, 0xff, 0xe0, 0x17}, 1<<20/4)
	att, err := author.st.PutBlob(bytes.NewReader(photo))
	if err != nil {
		t.Fatal(err)
	}
	id, err := author.st.Publish(store.NewPost{Text: "a photo", Audience: feed.Default(), Attachments: []*postv1.Attachment{att}})
	if err != nil {
		t.Fatal(err)
	}
	carrier.sync(t, author)
	reader.sync(t, carrier) // the reader never pulls from the author
	if ok, _, _ := reader.holds(t, author, id); !ok {
		t.Fatal("the reader does not hold the photo's post after syncing from the carrier")
	}
	if has, err := reader.st.HasBlob(att.GetSha256()); err != nil || !has {
		t.Fatalf("the reader holds the post but not its photo (%v)", err)
	}
}

// TestSyncAcknowledgesParcels: a sync reads a carrier's parcels without waiting for
// the acknowledgement's round trip, and the carrier is still shown it: the parcel it
// carried for the reader (and itself) goes once the reader has synced.
func TestSyncAcknowledgesParcels(t *testing.T) {
	author, carrier, reader := newPeer(t, "author"), newPeer(t, "carrier"), newPeer(t, "reader")
	for _, pair := range [][2]*peer{{author, carrier}, {carrier, author}, {author, reader}, {reader, author}, {carrier, reader}, {reader, carrier}} {
		befriend(t, pair[0], pair[1])
	}
	if _, err := author.st.Publish(store.NewPost{Text: "for my friends", Audience: feed.Default()}); err != nil {
		t.Fatal(err)
	}
	carried := func() int {
		t.Helper()
		use, err := carrier.st.CarriedUsage()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, u := range use {
			if !u.Own {
				n += u.Parcels
			}
		}
		return n
	}
	carrier.sync(t, author)
	if n := carried(); n == 0 {
		t.Fatal("the carrier keeps no parcel of the author's")
	}
	if res := reader.sync(t, carrier); res.Carry == nil || len(res.Carry.Stored) == 0 {
		t.Fatalf("the reader stored no carried post: %+v", res.Carry)
	}
	for deadline := time.Now().Add(5 * time.Second); carried() != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the carrier still holds %d parcels 5 s after their last reader synced", carried())
		}
	}
}
