package server_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/shared/identity"
)

// listen opens a Listen stream for k and waits for its first (ready) keepalive.
func listen(t *testing.T, c rendezvousv1.RendezvousServiceClient, k *identity.Key) rendezvousv1.RendezvousService_ListenClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := c.Listen(ctx, &rendezvousv1.ListenRequest{Auth: rendezvoustest.Auth(t, k, ctxListen, time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	first, err := st.Recv()
	if err != nil || first.GetOffer() != nil {
		t.Fatalf("first Listen message = %v, %v; want an empty keepalive", first, err)
	}
	return st
}

// recvOffer reads until an offer arrives, skipping keepalives.
func recvOffer(t *testing.T, st rendezvousv1.RendezvousService_ListenClient) *rendezvousv1.ListenResponse {
	t.Helper()
	for {
		m, err := st.Recv()
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		if m.GetOffer() != nil {
			return m
		}
	}
}

func TestListenConnect(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{Keepalive: 50 * time.Millisecond})
	checkListenConnect(t, srv.Client(t), srv.Client(t))
}

// checkListenConnect: a registers and listens through ca; b offers through cb.
func checkListenConnect(t *testing.T, ca, cb rendezvousv1.RendezvousServiceClient) {
	t.Helper()
	a := rendezvoustest.NewKey(t)
	afp := a.Public().Fingerprint()
	connect := func(target identity.Fingerprint) (*rendezvousv1.ConnectResponse, *rendezvousv1.SealedOffer, error) {
		offer := rendezvoustest.Offer(t, target, time.Now())
		resp, err := cb.Connect(ctxT(t), &rendezvousv1.ConnectRequest{TargetFingerprint: string(target), Offer: offer})
		return resp, offer, err
	}
	_, _, err := connect(afp)
	wantCode(t, err, codes.NotFound, "no record")
	recA := register(t, ca, a, time.Now())
	_, _, err = connect(afp)
	wantCode(t, err, codes.FailedPrecondition, "not listening")

	st := listen(t, ca, a)
	resp, offer, err := connect(afp)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if !proto.Equal(resp.GetRecord(), recA) {
		t.Fatal("connect did not return the target's signed record")
	}
	got := recvOffer(t, st)
	if !proto.Equal(got.GetOffer(), offer) || got.GetObservedAddress() == "" {
		t.Fatalf("listener got %v, want the offer with the caller's observed address", got)
	}
	// A second Listen replaces the first, which ends with Aborted.
	st2 := listen(t, ca, a)
	for {
		_, err := st.Recv()
		if err != nil {
			wantCode(t, err, codes.Aborted, "replaced by a newer Listen")
			break
		}
	}
	if _, offer, err = connect(afp); err != nil {
		t.Fatalf("connect after replacement: %v", err)
	}
	if got := recvOffer(t, st2); !proto.Equal(got.GetOffer(), offer) {
		t.Fatal("the replacing Listen did not get the offer")
	}
	// An offer signed for someone else is refused.
	other := rendezvoustest.Offer(t, rendezvoustest.NewKey(t).Public().Fingerprint(), time.Now())
	_, err = cb.Connect(ctxT(t), &rendezvousv1.ConnectRequest{TargetFingerprint: string(afp), Offer: other})
	wantCode(t, err, codes.InvalidArgument, "target_fingerprint differs")
}

func TestStopDrainsListen(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{})
	c := srv.Client(t)
	k := rendezvoustest.NewKey(t)
	st := listen(t, c, k)
	done := make(chan error, 1)
	go func() { done <- srv.Instance.Stop() }()
	for {
		_, err := st.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				wantCode(t, err, codes.Unavailable, "shutting down")
			}
			break
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return within 5s")
	}
}

// TestListensPerIP: one client address holds at most ListensPerIP Listen streams, fresh
// keys or not; closing one makes room for the next.
func TestListensPerIP(t *testing.T) {
	const bound = 3
	srv := rendezvoustest.Start(t, rendezvous.Config{ListensPerIP: bound})
	c := srv.Client(t)
	cancels := make([]context.CancelFunc, bound)
	for i := range bound {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		cancels[i] = cancel
		st, err := c.Listen(ctx, &rendezvousv1.ListenRequest{Auth: rendezvoustest.Auth(t, rendezvoustest.NewKey(t), ctxListen, time.Now())})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != nil {
			t.Fatalf("listen %d of %d: %v", i+1, bound, err)
		}
	}
	over := func() error {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		st, err := c.Listen(ctx, &rendezvousv1.ListenRequest{Auth: rendezvoustest.Auth(t, rendezvoustest.NewKey(t), ctxListen, time.Now())})
		if err != nil {
			return err
		}
		_, err = st.Recv()
		return err
	}
	wantCode(t, over(), codes.ResourceExhausted, "too many Listen streams from this address")
	cancels[0]()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := over()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after closing a stream, a new Listen still fails: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
