package reach

import (
	"context"
	"log/slog"
	"testing"
	"time"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/rendezvous/turn"
)

// primedPair is alice (punching off) and bob, friends on a rendezvous with TURN whose
// log is recorded.
func primedPair(t *testing.T) (*recordLog, *node, *node) {
	t.Helper()
	rvLog := &recordLog{}
	rv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNAllowPrivate: true, Logger: slog.New(rvLog)})
	servers := []string{rv.GRPC}
	a, b := newNode(t, "alice", servers, Config{PunchTimeout: -1}), newNode(t, "bob", servers, Config{})
	befriend(t, a, b)
	return rvLog, a, b
}

// primedNow is the node's primed allocation; nil when none.
func (a *Agent) primedNow() *primed {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.primed
}

// TestPrimedAllocation: a registered node that keeps TURN credentials keeps a primed
// allocation while it has none; the primed client asks the server nothing it would
// refuse (no grant exists: no refused allocation is logged); an allocation takes it
// (the 401 was done ahead) once the rendezvous grants one; a released allocation is
// primed again; an endpoint-independent mapping drops it.
func TestPrimedAllocation(t *testing.T) {
	rvLog, a, b := primedPair(t)
	primedNow := func() bool { return a.agent.primedNow() != nil }
	waitUntil(t, "a primed allocation", primedNow)
	time.Sleep(200 * time.Millisecond) // time for a refusal to come, were the Allocate sent
	if n := rvLog.count("turn: refused allocation"); n != 0 {
		t.Fatalf("the primed client's Allocate reached the server before any grant: %d refused", n)
	}
	// A Connect grants us an allocation; the one made now is the primed one.
	if _, err := a.agent.disc.Connect(context.Background(), b.key.Public(), rendezvousv1.OfferKind_OFFER_KIND_CONNECT, nil, newNonce()); err != nil {
		t.Fatal(err)
	}
	p := a.agent.primedNow()
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

// TestPrimedRefused: a primed allocation whose credentials the server refuses drops
// them, and the allocation that took it still succeeds on fresh ones at once; a prime
// that nothing changed is kept, not made again.
func TestPrimedRefused(t *testing.T) {
	rvLog, a, b := primedPair(t)
	a.agent.setMapping(ed)
	ctx := context.Background()
	waitUntil(t, "a primed allocation", func() bool { return a.agent.primedNow() != nil })
	first := a.agent.primedNow()
	a.agent.keepPrimed(ctx)
	if a.agent.primedNow() != first {
		t.Error("a prime nothing changed was made again")
	}
	h := a.agent.held()
	user, pass := turn.Credentials("s3cret", "fp", time.Now().Add(-time.Minute))
	refused := &rendezvousv1.TurnCredentialsResponse{Username: user, Password: pass, Uris: h.resp.GetUris()}
	a.agent.holdCreds(heldCreds{resp: refused, server: h.server, refresh: h.refresh, expires: h.expires})
	a.agent.dropPrimed()
	a.agent.keepPrimed(ctx) // primed with the refused credentials
	if _, err := a.agent.disc.Connect(ctx, b.key.Public(), rendezvousv1.OfferKind_OFFER_KIND_CONNECT, nil, newNonce()); err != nil {
		t.Fatal(err)
	}
	if _, made, err := a.agent.ensureRelayWith(ctx, nil, nil, nil); err != nil || !made {
		t.Fatalf("allocation after a refused prime: made %v, err %v", made, err)
	}
	if rvLog.count("turn: refused") == 0 {
		t.Error("the server refused nothing: the prime did not use the credentials held")
	}
	if got := a.agent.held().resp; got == refused {
		t.Error("the refused credentials are still held")
	}
}

// TestDialThroughRelayAnswer: between two endpoint-dependent nodes with punching off,
// a dial connects through the callee's relay (its relay answer), not ours: the path's
// remote is the callee's allocation, and the caller allocated nothing.
func TestDialThroughRelayAnswer(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNAllowPrivate: true})
	servers := []string{rv.GRPC}
	a, b := newNode(t, "alice", servers, Config{PunchTimeout: -1}), newNode(t, "bob", servers, Config{PunchTimeout: -1})
	befriend(t, a, b)
	a.agent.setMapping(ed)
	b.agent.setMapping(ed)
	c := dial(t, a, b)
	if !c.Relayed() {
		t.Fatal("punching is off, yet the connection is not relayed")
	}
	b.agent.mu.Lock()
	r := b.agent.relay
	b.agent.mu.Unlock()
	if r == nil {
		t.Fatal("the callee made no allocation")
	}
	p, ok := a.agent.bestPath(b.key.Public())
	if !ok || p.addr.String() != r.relay.Addr.String() || p.tr != a.agent.cfg.Transport {
		t.Fatalf("path %v (ok %v), want the callee's relay %v from our own socket", p, ok, r.relay.Addr)
	}
	a.agent.mu.Lock()
	ours := a.agent.relay
	a.agent.mu.Unlock()
	if ours != nil {
		t.Errorf("the caller allocated %v too", ours.relay.Addr)
	}
}

// TestDropLosers: the ways that lost a find are drained, a nil one (already ended)
// skipped, and our allocation released when our own way lost and nothing uses it;
// when ours was not among the losers (it won, or never ran) it is left alone.
func TestDropLosers(t *testing.T) {
	_, a, b := primedPair(t)
	ctx := context.Background()
	if _, err := a.agent.disc.Connect(ctx, b.key.Public(), rendezvousv1.OfferKind_OFFER_KIND_CONNECT, nil, newNonce()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.agent.ensureRelayWith(ctx, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	lost := func() chan attempt {
		ch := make(chan attempt, 1)
		ch <- attempt{err: errNoRelayAnswer}
		return ch
	}
	done := make(chan struct{})
	callee := lost()
	go func() { defer close(done); a.agent.dropLosers(nil, callee) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("dropLosers blocked on a way that had already ended (nil)")
	}
	if len(callee) != 0 {
		t.Error("the callee's way was not drained")
	}
	a.agent.mu.Lock()
	kept := a.agent.relay != nil
	a.agent.mu.Unlock()
	if !kept {
		t.Fatal("our allocation was released though our way was not among the losers")
	}
	ours := lost()
	a.agent.dropLosers(ours, nil)
	a.agent.mu.Lock()
	released := a.agent.relay == nil
	a.agent.mu.Unlock()
	if len(ours) != 0 || !released {
		t.Errorf("our lost way drained %v, our idle allocation released %v; want both", len(ours) == 0, released)
	}
}
