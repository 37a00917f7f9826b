package syncer

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/store"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

var carryAll = store.CarryPolicy{Quota: 64 << 20, Retention: time.Hour}

// TestCarryThroughFriend: alice's post to bob alone, with a photo, is sealed; carol, a
// friend of both, pulls alice's parcel log and keeps it sealed (she cannot read it);
// bob, who never talks to alice, pulls carol's log, opens the post signed by alice with
// its photo, and acknowledges it, which lets carol drop it. Dave, a friend of carol's
// outside the post's audience, gets the parcel but not the post.
func TestCarryThroughFriend(t *testing.T) {
	alice, bob, carol, dave := newNode(t, "alice", nil), newNode(t, "bob", nil), newNode(t, "carol", nil), newNode(t, "dave", nil)
	for _, p := range [][2]*node{{alice, bob}, {bob, alice}, {alice, carol}, {carol, alice}, {carol, bob}, {bob, carol},
		{alice, dave}, {dave, alice}, {carol, dave}, {dave, carol}} {
		befriend(t, p[0], p[1])
	}
	photo := randomBytes(t, 300<<10) // past signed.MaxPayload: parcels have their own bound
	id := alice.publish(t, "for bob", feed.Audience{People: []identity.ID{bob.key.ID()}}, alice.blob(t, photo))

	ctx := ctxT(t)
	carolPulls := NewPuller(PullerConfig{Store: carol.st, Logger: quiet()})
	res, err := carolPulls.PullParcels(ctx, carol.client(t, alice), carol.key, alice.pub(), carryAll)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kept == 0 || res.Refused != 0 || carol.holds(t, alice, id) != 0 {
		t.Fatalf("carol from alice: %+v, holds the post: %v; want a parcel kept sealed", res, carol.holds(t, alice, id) != 0)
	}

	bobPulls := NewPuller(PullerConfig{Store: bob.st, Logger: quiet()})
	res, err = bobPulls.PullParcels(ctx, bob.client(t, carol), bob.key, carol.pub(), carryAll)
	if err != nil {
		t.Fatal(err)
	}
	if bob.holds(t, alice, id) == 0 || res.Stored[alice.pub()] != 1 || res.Refused != 0 {
		t.Fatalf("bob from carol: %+v; want alice's post stored", res)
	}
	p, err := bob.st.Post(alice.pub(), id)
	if err != nil {
		t.Fatal(err)
	}
	atts := p.Payload.GetAttachments()
	if len(atts) != 1 {
		t.Fatalf("the carried post has %d attachments", len(atts))
	}
	f, _, err := bob.st.OpenBlob(atts[0].GetSha256())
	if err != nil {
		t.Fatalf("the carried photo: %v", err)
	}
	got, err := io.ReadAll(f)
	f.Close()
	if err != nil || !bytes.Equal(got, photo) {
		t.Fatalf("the carried photo: %v (%d bytes)", err, len(got))
	}

	daveRes, err := NewPuller(PullerConfig{Store: dave.st, Logger: quiet()}).PullParcels(ctx, dave.client(t, carol), dave.key, carol.pub(), carryAll)
	if err != nil {
		t.Fatal(err)
	}
	if dave.holds(t, alice, id) != 0 || daveRes.Stored[alice.pub()] != 0 {
		t.Fatalf("dave, outside the audience, opened the post: %+v", daveRes)
	}

	// bob's acknowledgement reached carol: the only reader has it, so she may drop it.
	use, err := carol.st.CarriedUsage()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range use {
		if !u.Own && u.Parcels != 0 {
			t.Errorf("carol still carries %d parcels from %s after their only reader acknowledged", u.Parcels, u.From.Short())
		}
	}
}

// TestParcelsForFriendsOnly: a stranger is refused the parcel log and acknowledgements;
// too many acknowledgements in one call are refused; a friend's forged parcel is
// refused by the reader and nothing of it kept.
func TestParcelsForFriendsOnly(t *testing.T) {
	alice, bob, eve := newNode(t, "alice", nil), newNode(t, "bob", nil), newNode(t, "eve", nil)
	befriend(t, alice, bob)
	befriend(t, bob, alice)
	alice.publish(t, "friends", feed.Default())
	ctx := ctxT(t)
	ec := eve.client(t, alice)
	if _, err := ec.GetParcels(ctx, &syncv1.GetParcelsRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a stranger's GetParcels: %v, want PermissionDenied", err)
	}
	if _, err := ec.AckParcels(ctx, &syncv1.AckParcelsRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a stranger's AckParcels: %v, want PermissionDenied", err)
	}
	bc := bob.client(t, alice)
	acks := make([]*syncv1.ParcelAck, MaxParcels+1)
	for i := range acks {
		acks[i] = &syncv1.ParcelAck{Slot: []byte("s"), Seq: 1, Secret: []byte("x")}
	}
	if _, err := bc.AckParcels(ctx, &syncv1.AckParcelsRequest{Acks: acks}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("%d acknowledgements in one call: %v, want InvalidArgument", len(acks), err)
	}
	if _, err := bc.AckParcels(ctx, &syncv1.AckParcelsRequest{Acks: acks[:MaxParcels]}); err != nil {
		t.Errorf("%d acknowledgements in one call: %v", MaxParcels, err)
	}
	resp, err := bc.GetParcels(ctx, &syncv1.GetParcelsRequest{Limit: 1})
	if err != nil || len(resp.GetParcels()) != 1 {
		t.Fatalf("bob's GetParcels: %v, %d parcels", err, len(resp.GetParcels()))
	}

	// A friend that alters a parcel it hands over: the reader refuses it.
	forger := newNode(t, "mallory", func(s *Server) syncv1.SyncServiceServer { return forgeParcels{s} })
	befriend(t, bob, forger)
	befriend(t, forger, bob)
	befriend(t, forger, alice)
	befriend(t, alice, forger)
	if _, err := NewPuller(PullerConfig{Store: forger.st, Logger: quiet()}).PullParcels(ctx, forger.client(t, alice), forger.key, alice.pub(), carryAll); err != nil {
		t.Fatal(err)
	}
	res, err := NewPuller(PullerConfig{Store: bob.st, Logger: quiet()}).PullParcels(ctx, bob.client(t, forger), bob.key, forger.pub(), carryAll)
	if err != nil {
		t.Fatal(err)
	}
	if res.Refused <= 0 || res.Kept != 0 || len(res.Stored) != 0 {
		t.Fatalf("parcels altered by the carrier: %+v, want every one refused and nothing kept", res)
	}
}

// forgeParcels hands out its parcel log with one byte of every parcel's payload flipped.
type forgeParcels struct{ *Server }

func (f forgeParcels) GetParcels(ctx context.Context, req *syncv1.GetParcelsRequest) (*syncv1.GetParcelsResponse, error) {
	resp, err := f.Server.GetParcels(ctx, req)
	if err != nil {
		return nil, err
	}
	for i, e := range resp.GetParcels() {
		c := &signedv1.Envelope{Payload: bytes.Clone(e.GetPayload()), Signature: e.GetSignature(), Signer: e.GetSigner(), Certificate: e.GetCertificate()}
		c.Payload[len(c.Payload)/2] ^= 1
		resp.Parcels[i] = c
	}
	return resp, nil
}
