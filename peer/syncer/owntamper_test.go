package syncer

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/store"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
)

// tamperOwn is a device of the person that alters its OwnChanges answers with how.
type tamperOwn struct {
	*Server
	how *func(*syncv1.OwnChangesResponse)
}

func (d tamperOwn) OwnChanges(ctx context.Context, req *syncv1.OwnChangesRequest) (*syncv1.OwnChangesResponse, error) {
	resp, err := d.Server.OwnChanges(ctx, req)
	if err == nil && *d.how != nil {
		resp = proto.Clone(resp).(*syncv1.OwnChangesResponse)
		(*d.how)(resp)
	}
	return resp, err
}

// TestOwnChangesTampered: a device of one's own that serves altered own changes (a
// post whose signature fails, an audience, friends, devices or revocations that do not
// parse or verify, more revocations than allowed) gets them refused, and the pulling
// device stores nothing of the page and keeps its cursor; a revocation signed by the
// person is learned whatever else the answer holds. Each case is checked against an honest pull afterwards.
func TestOwnChangesTampered(t *testing.T) {
	var how func(*syncv1.OwnChangesResponse)
	alice := newNode(t, "alice", func(s *Server) syncv1.SyncServiceServer { return tamperOwn{s, &how} })
	laptop := joinDevice(t, alice, "laptop")
	joinDevice(t, alice, "phone")
	id := alice.publish(t, "after the laptop joined", feed.Default())
	if _, err := alice.st.RevokeDevice("phone"); err != nil {
		t.Fatal(err)
	}
	revs, err := alice.st.RevocationEnvelopes(alice.pub())
	if err != nil || len(revs) != 1 {
		t.Fatalf("alice's revocations: %d, %v", len(revs), err)
	}
	lc := ownClient(t, laptop, alice, alice.pub())
	garbage := &signedv1.Envelope{Signer: alice.pub().Bytes(), Payload: []byte("not a revocation"), Signature: make([]byte, 64)}
	for _, tc := range []struct {
		name string
		how  func(*syncv1.OwnChangesResponse)
	}{
		{"an audience that is not JSON", func(r *syncv1.OwnChangesResponse) { r.Posts[0].Audience = []byte("{") }},
		{"lists that do not parse", func(r *syncv1.OwnChangesResponse) { r.Lists = []byte{0xff, 0x01} }},
		{"lists of version 1", func(r *syncv1.OwnChangesResponse) { r.ListsVersion = 1 }},
		{"no lists version", func(r *syncv1.OwnChangesResponse) { r.ListsVersion = 0 }},
		{"a removal without a stamp", func(r *syncv1.OwnChangesResponse) {
			r.Lists = []byte(`{"friends":[{"key":"` + b64(alice.pub().Bytes()) + `","removed":true}],"groups":[]}`)
		}},
		{"a stamp a week ahead", func(r *syncv1.OwnChangesResponse) {
			ms := time.Now().Add(7 * 24 * time.Hour).UnixMilli()
			r.Lists = []byte(fmt.Sprintf(`{"friends":[],"groups":[{"name":"family","stamp":{"ms":%d,"dev":"%s"}}]}`, ms, b64(alice.pub().Bytes())))
		}},
		{"devices that do not parse", func(r *syncv1.OwnChangesResponse) { r.Devices = []byte{0xff, 0x01} }},
		{"a forged revocation", func(r *syncv1.OwnChangesResponse) { r.Revocations = append(r.Revocations, garbage) }},
		{"too many revocations", func(r *syncv1.OwnChangesResponse) {
			for range 1000 {
				r.Revocations = append(r.Revocations, revs[0])
			}
		}},
	} {
		how = tc.how
		before := laptop.cursor(t, alice)
		groupsBefore, _ := laptop.st.Groups()
		_, err := NewPuller(PullerConfig{Store: laptop.st, Logger: quiet()}).PullOwn(ctxT(t), lc, alice.key.Public())
		if !errors.Is(err, ErrTampered) {
			t.Errorf("%s: %v, want ErrTampered", tc.name, err)
		}
		if c := laptop.cursor(t, alice); c != before {
			t.Errorf("%s: the cursor moved from %d to %d", tc.name, before, c)
		}
		if laptop.holds(t, alice, id) != 0 {
			t.Fatalf("%s: the laptop stored the post", tc.name)
		}
		if gs, _ := laptop.st.Groups(); !slices.Equal(gs, groupsBefore) {
			t.Errorf("%s: the laptop's groups went from %v to %v", tc.name, groupsBefore, gs)
		}
		// The phone's revocation is alice's own signature: kept from any answer. Nothing
		// else is.
		if r, _ := laptop.st.Revocations(alice.pub()); len(r) > 1 {
			t.Fatalf("%s: the laptop kept %d revocations", tc.name, len(r))
		}
	}
	// An honest answer may hold as many revocations as a store keeps.
	how = func(r *syncv1.OwnChangesResponse) {
		for len(r.Revocations) < store.MaxRevocations {
			r.Revocations = append(r.Revocations, revs[0])
		}
	}
	res, err := NewPuller(PullerConfig{Store: laptop.st, Logger: quiet()}).PullOwn(ctxT(t), lc, alice.key.Public())
	if err != nil || res.Stored == 0 || laptop.holds(t, alice, id) == 0 {
		t.Fatalf("the honest pull: %+v, %v; want the post", res, err)
	}
	if r, _ := laptop.st.Revocations(alice.pub()); len(r) != 1 {
		t.Fatalf("the laptop learned %d revocations, want the phone's", len(r))
	}

	// A post whose signature fails is left out and counted; the rest of the page stands.
	id2 := alice.publish(t, "altered on the way", feed.Default())
	how = func(r *syncv1.OwnChangesResponse) {
		e := r.Posts[0].Envelope
		e.Payload = bytes.Clone(e.Payload)
		e.Payload[len(e.Payload)/2] ^= 1
	}
	res, err = NewPuller(PullerConfig{Store: laptop.st, Logger: quiet()}).PullOwn(ctxT(t), lc, alice.key.Public())
	if err != nil || res.Dropped != 1 || res.Stored != 0 || laptop.holds(t, alice, id2) != 0 {
		t.Fatalf("an altered own post: %+v, %v; want it refused and counted", res, err)
	}
}

// tamperDevices is a friend that alters its GetDevices answers with how.
type tamperDevices struct {
	*Server
	how *func(*syncv1.GetDevicesResponse)
}

func (d tamperDevices) GetDevices(ctx context.Context, req *syncv1.GetDevicesRequest) (*syncv1.GetDevicesResponse, error) {
	resp, err := d.Server.GetDevices(ctx, req)
	if err == nil && *d.how != nil {
		resp = proto.Clone(resp).(*syncv1.GetDevicesResponse)
		(*d.how)(resp)
	}
	return resp, err
}

// TestFetchDevicesTampered: a friend's revocation that does not verify is reported and
// the ones that do are kept; past MaxRevocations the answer is called tampered; an
// answer of exactly MaxRevocations is taken.
func TestFetchDevicesTampered(t *testing.T) {
	var how func(*syncv1.GetDevicesResponse)
	alice := newNode(t, "alice", func(s *Server) syncv1.SyncServiceServer { return tamperDevices{s, &how} })
	bob := newNode(t, "bob", nil)
	befriend(t, alice, bob)
	befriend(t, bob, alice)
	joinDevice(t, alice, "phone")
	if _, err := alice.st.RevokeDevice("phone"); err != nil {
		t.Fatal(err)
	}
	p := NewPuller(PullerConfig{Store: bob.st, Logger: quiet()})
	bc := bob.client(t, alice)
	kept := func() int {
		r, err := bob.st.Revocations(alice.pub())
		if err != nil {
			t.Fatal(err)
		}
		return len(r)
	}

	forged := &signedv1.Envelope{Signer: alice.pub().Bytes(), Payload: []byte("not a revocation"), Signature: make([]byte, 64)}
	how = func(r *syncv1.GetDevicesResponse) {
		r.Revocations = append([]*signedv1.Envelope{forged}, r.Revocations...)
	}
	if err := p.FetchDevices(ctxT(t), bc, alice.pub()); err == nil {
		t.Error("a forged revocation was not reported")
	}
	if n := kept(); n != 1 {
		t.Fatalf("after a forged and an honest revocation bob keeps %d, want the honest one", n)
	}

	how = func(r *syncv1.GetDevicesResponse) {
		for len(r.Revocations) < store.MaxRevocations {
			r.Revocations = append(r.Revocations, r.Revocations[0])
		}
	}
	if err := p.FetchDevices(ctxT(t), bc, alice.pub()); err != nil {
		t.Errorf("%d revocations: %v", store.MaxRevocations, err)
	}
	how = func(r *syncv1.GetDevicesResponse) {
		for len(r.Revocations) <= store.MaxRevocations {
			r.Revocations = append(r.Revocations, r.Revocations[0])
		}
	}
	if err := p.FetchDevices(ctxT(t), bc, alice.pub()); !errors.Is(err, ErrTampered) {
		t.Errorf("%d revocations: %v, want ErrTampered", store.MaxRevocations+1, err)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestOwnChangesNoProgress: a device that says there is more but does not move past
// the cursor asked (or moves back) ends the pull at once instead of being asked the
// same page for ever.
func TestOwnChangesNoProgress(t *testing.T) {
	var how func(*syncv1.OwnChangesResponse)
	alice := newNode(t, "alice", func(s *Server) syncv1.SyncServiceServer { return tamperOwn{s, &how} })
	laptop := joinDevice(t, alice, "laptop")
	lc := ownClient(t, laptop, alice, alice.pub())
	calls := 0
	how = func(r *syncv1.OwnChangesResponse) { calls++; r.Posts, r.Last, r.More = nil, 1, true }
	// From cursor 0 the answer moves to 1 (asked again), then stays at 1: the pull ends;
	// from cursor 1 it ends at the first answer.
	for _, want := range []int{2, 1} {
		calls = 0
		ctx, cancel := context.WithTimeout(ctxT(t), 5*time.Second)
		res, err := NewPuller(PullerConfig{Store: laptop.st, Logger: quiet()}).PullOwn(ctx, lc, alice.key.Public())
		cancel()
		if err != nil || calls != want {
			t.Fatalf("a device that makes no progress: %+v, %v after %d calls; want the pull to end after %d", res, err, calls, want)
		}
	}
}
