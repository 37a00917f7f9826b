package rendezvoustest

import (
	"context"
	"testing"
	"time"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/shared/identity"
)

// ConnectTo registers a fresh target whose record publishes candidates, keeps its Listen
// stream open until t ends, and sends it a sealed offer through s from loopback: what a
// peer does before it falls back to a relay, and what grants it one on s's TURN server.
// The caller is sealed inside the offer, so the grant goes to the connection's address.
func (s *Server) ConnectTo(t testing.TB, candidates ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := s.Client(t)
	target := NewKey(t)
	if _, err := c.Register(ctx, &rendezvousv1.RegisterRequest{Record: Registration(t, target, time.Now(), time.Minute, candidates...)}); err != nil {
		t.Fatalf("rendezvoustest: register the target: %v", err)
	}
	lctx, lcancel := context.WithCancel(context.Background())
	t.Cleanup(lcancel)
	st, err := c.Listen(lctx, &rendezvousv1.ListenRequest{Auth: Auth(t, target, identity.ContextListen, time.Now())})
	if err != nil {
		t.Fatalf("rendezvoustest: listen: %v", err)
	}
	if _, err := st.Recv(); err != nil { // the first keepalive: offers reach it from now on
		t.Fatalf("rendezvoustest: listen: %v", err)
	}
	fp := target.Public().Fingerprint()
	if _, err := c.Connect(ctx, &rendezvousv1.ConnectRequest{TargetFingerprint: string(fp),
		Offer: Offer(t, fp, time.Now())}); err != nil {
		t.Fatalf("rendezvoustest: connect through %s: %v", s.GRPC, err)
	}
}
