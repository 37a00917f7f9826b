package reach

import (
	"context"
	"log/slog"
	"testing"
	"time"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
)

// TestPrimedAllocation: a registered node that keeps TURN credentials keeps a primed
// allocation while it has none; the primed client asks the server nothing it would
// refuse (no grant exists: no refused allocation is logged); an allocation takes it
// (the 401 was done ahead) once the rendezvous grants one; a released allocation is
// primed again; an endpoint-independent mapping drops it.
func TestPrimedAllocation(t *testing.T) {
	rvLog := &recordLog{}
	rv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNAllowPrivate: true, Logger: slog.New(rvLog)})
	servers := []string{rv.GRPC}
	a, b := newNode(t, "alice", servers, Config{PunchTimeout: -1}), newNode(t, "bob", servers, Config{})
	befriend(t, a, b)
	primedNow := func() bool {
		a.agent.mu.Lock()
		defer a.agent.mu.Unlock()
		return a.agent.primed != nil
	}
	waitUntil(t, "a primed allocation", primedNow)
	time.Sleep(200 * time.Millisecond) // time for a refusal to come, were the Allocate sent
	if n := rvLog.count("turn: refused allocation"); n != 0 {
		t.Fatalf("the primed client's Allocate reached the server before any grant: %d refused", n)
	}
	// A Connect grants us an allocation; the one made now is the primed one.
	if _, err := a.agent.disc.Connect(context.Background(), b.key.Public(), rendezvousv1.OfferKind_OFFER_KIND_CONNECT, nil, newNonce()); err != nil {
		t.Fatal(err)
	}
	a.agent.mu.Lock()
	p := a.agent.primed
	a.agent.mu.Unlock()
	r, made, err := a.agent.ensureRelayWith(context.Background(), nil, nil, nil)
	if err != nil || !made {
		t.Fatalf("allocation: made %v, err %v", made, err)
	}
	if r.relay != p.rl {
		t.Error("the allocation is not the primed one")
	}
	if primedNow() {
		t.Error("the node holds an allocation and still a primed one (both divert the TURN server's datagrams)")
	}
	if n := rvLog.count("turn: refused allocation"); n != 0 {
		t.Errorf("%d allocations refused", n)
	}
	a.agent.releaseIdle(r)
	waitUntil(t, "a primed allocation again after the release", primedNow)
	a.agent.setMapping(ei)
	a.agent.mappingKnown <- struct{}{}
	waitUntil(t, "the primed allocation dropped once the mapping is endpoint-independent", func() bool { return !primedNow() })
}
