package reach

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/store"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
)

// TestFindAllocatesBesideTheOffer: a find towards a friend allocates the node's relay
// while its offer waits for the answer (the rendezvous' grant comes with the delivered
// offer), so the allocation is there before any answer; a find whose peer never
// answers releases it when it ends, and nothing reached the peer.
func TestFindAllocatesBesideTheOffer(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNAllowPrivate: true})
	servers := []string{rv.GRPC}
	a, b := newNode(t, "alice", servers, Config{}), newNode(t, "bob", servers, Config{})
	// alice counts bob as a friend; bob has not added her: he never answers.
	if err := a.st.PutFriend(store.Friend{Key: b.key.Public(), Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := a.agent.Dial(ctx, Target{Key: b.key.Public(), Name: "bob"})
		done <- err
	}()
	allocated := false
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-time.After(10 * time.Millisecond):
			allocated = allocated || rv.Instance.TURNAllocations() == 1
		}
	}
	if err == nil || !strings.Contains(err.Error(), "did not answer") {
		t.Fatalf("a dial to a friend who never answers: %v, want 'did not answer'", err)
	}
	if !allocated {
		t.Fatal("no TURN allocation was made while the offer waited for its answer")
	}
	waitUntil(t, "the unused allocation released", func() bool { return rv.Instance.TURNAllocations() == 0 })
	a.agent.mu.Lock()
	kept := a.agent.relay != nil
	a.agent.mu.Unlock()
	if kept {
		t.Fatal("the node keeps a relay its find did not use")
	}
	if n := b.drops.count(a.agent.cfg.Mux.LocalAddr().String()); n > 0 || len(b.tr.Peers()) > 0 {
		t.Fatalf("the caller reached a peer that never answered (%d punch packets)", n)
	}
}

// TestFindKeepsTheRelayItUses: a find that ends on the relay keeps the one allocation
// it made beside the offer (made once, used by the relay attempt); a find that ends
// direct leaves none.
func TestFindKeepsTheRelayItUses(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNAllowPrivate: true})
	servers := []string{rv.GRPC}
	a, b := newNode(t, "alice", servers, Config{PunchTimeout: -1}), newNode(t, "bob", servers, Config{PunchTimeout: -1})
	befriend(t, a, b)
	c := dial(t, a, b)
	if !c.Relayed() {
		t.Fatal("punching is off, yet the connection is not relayed")
	}
	if n := rv.Instance.TURNAllocations(); n != 1 {
		t.Fatalf("%d TURN allocations after a relayed find, want 1 (alice's)", n)
	}

	for range 3 {
		before := rv.Instance.TURNAllocations()
		d, e := newNode(t, "dora", servers, Config{}), newNode(t, "eve", servers, Config{})
		befriend(t, d, e)
		if c := dial(t, d, e); c.Relayed() {
			// The relay won the race on a loaded machine: it is kept, rightly. Try
			// again with another pair.
			continue
		}
		waitUntil(t, "the allocation of a find that ended direct released", func() bool {
			return rv.Instance.TURNAllocations() == before
		})
		return
	}
	t.Fatal("three finds on loopback all ended on the relay")
}

func TestHeadStart(t *testing.T) {
	const (
		hard = rendezvousv1.Mapping_MAPPING_ENDPOINT_DEPENDENT
		easy = rendezvousv1.Mapping_MAPPING_ENDPOINT_INDEPENDENT
		none = rendezvousv1.Mapping_MAPPING_UNSPECIFIED
	)
	for _, tc := range []struct {
		ours, theirs rendezvousv1.Mapping
		want         time.Duration
	}{
		{hard, hard, 0},
		{hard, easy, relayHeadStart},
		{easy, hard, relayHeadStart},
		{none, hard, relayHeadStart},
		{hard, none, relayHeadStart},
		{easy, easy, relayHeadStart},
	} {
		a := &Agent{mappingKind: tc.ours}
		if got := a.headStart(offered{mapping: tc.theirs}); got != tc.want {
			t.Errorf("head start, ours %v, theirs %v: %v, want %v", tc.ours, tc.theirs, got, tc.want)
		}
	}
}

func TestSplitPermits(t *testing.T) {
	ap := netip.MustParseAddrPort
	public, private := splitPermits([]netip.AddrPort{
		ap("198.18.1.2:4000"), ap("10.1.0.2:4000"), ap("198.18.1.2:5000"), ap("[2001:db8::1]:4000"),
		ap("100.64.3.2:1"), ap("127.0.0.1:9"), ap("[::ffff:203.0.113.9]:7"), ap("192.168.1.5:2"), ap("[fe80::1]:3"),
	})
	wantPublic := []netip.AddrPort{ap("198.18.1.2:4000"), ap("[2001:db8::1]:4000"), ap("[::ffff:203.0.113.9]:7")}
	wantPrivate := []netip.AddrPort{ap("10.1.0.2:4000"), ap("100.64.3.2:1"), ap("127.0.0.1:9"), ap("192.168.1.5:2"), ap("[fe80::1]:3")}
	if !slices.Equal(public, wantPublic) || !slices.Equal(private, wantPrivate) {
		t.Errorf("splitPermits: public %v, private %v; want %v, %v", public, private, wantPublic, wantPrivate)
	}
}

// TestPrepares: a find starts the relay beside its offer only towards a friend, only in
// rendezvous mode, and only while our NAT's mapping is unknown.
func TestPrepares(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNAllowPrivate: true})
	a := newNode(t, "alice", []string{rv.GRPC}, Config{})
	friend, stranger := mustKey(t).Public(), mustKey(t).Public()
	if err := a.st.PutFriend(store.Friend{Key: friend, Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		to      bool // friend
		mapping rendezvousv1.Mapping
		want    bool
	}{
		{"friend, mapping unknown", true, rendezvousv1.Mapping_MAPPING_UNSPECIFIED, true},
		{"friend, endpoint-dependent", true, rendezvousv1.Mapping_MAPPING_ENDPOINT_DEPENDENT, false},
		{"friend, endpoint-independent", true, rendezvousv1.Mapping_MAPPING_ENDPOINT_INDEPENDENT, false},
		{"stranger, endpoint-dependent", false, rendezvousv1.Mapping_MAPPING_ENDPOINT_DEPENDENT, false},
		{"stranger, mapping unknown", false, rendezvousv1.Mapping_MAPPING_UNSPECIFIED, false},
	} {
		a.agent.mu.Lock()
		a.agent.mappingKind = tc.mapping
		a.agent.mu.Unlock()
		k := stranger
		if tc.to {
			k = friend
		}
		if got := a.agent.prepares(k); got != tc.want {
			t.Errorf("%s: prepares %v, want %v", tc.name, got, tc.want)
		}
	}
	direct := &Agent{cfg: Config{Book: a.agent.cfg.Book}}
	if direct.prepares(friend) {
		t.Error("a node in direct mode (no rendezvous) prepares a relay")
	}
	// A node that holds an allocation already prepares none.
	a.agent.mu.Lock()
	a.agent.mappingKind = rendezvousv1.Mapping_MAPPING_UNSPECIFIED
	a.agent.relay = &relayed{}
	a.agent.mu.Unlock()
	if _, p := a.agent.prepareRelay(context.Background(), friend); p != nil {
		t.Error("a node with an allocation prepared another")
	}
	a.agent.mu.Lock()
	a.agent.relay = nil
	a.agent.mu.Unlock()
	ctx, p := a.agent.prepareRelay(context.Background(), friend)
	if p == nil || ctx.Value(prepKey{}) != p {
		t.Fatal("a node without an allocation prepared none for a friend")
	}
	a.agent.finishPrep(p) // no grant came: nothing allocated, nothing left
	if p.r != nil || rv.Instance.TURNAllocations() != 0 {
		t.Errorf("a prep whose offer was never delivered allocated (%d allocations)", rv.Instance.TURNAllocations())
	}
}

// TestEarlyAllocationWaitsForTheOffer: the early allocation starts before the offer is
// delivered, but its authenticated Allocate waits for the delivery: the rendezvous
// refuses nothing meanwhile (it would, without a grant) and allocates at once after
// it. Nothing reaches the peer, who never answered.
func TestEarlyAllocationWaitsForTheOffer(t *testing.T) {
	rvLog := &recordLog{}
	rv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNAllowPrivate: true, Logger: slog.New(rvLog)})
	servers := []string{rv.GRPC}
	a, b := newNode(t, "alice", servers, Config{}), newNode(t, "bob", servers, Config{})
	// alice counts bob as a friend; bob has not added her: he never answers.
	if err := a.st.PutFriend(store.Friend{Key: b.key.Public(), Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	ctx, p := a.agent.prepareRelay(context.Background(), b.key.Public())
	if p == nil {
		t.Fatal("no early relay towards a friend")
	}
	defer a.agent.finishPrep(p)
	time.Sleep(300 * time.Millisecond) // the credentials, the 401, and an Allocate that must wait
	if n := rvLog.count("turn: refused allocation"); n > 0 || rv.Instance.TURNAllocations() > 0 {
		t.Fatalf("before the offer was delivered: %d allocations refused, %d made; want none", n, rv.Instance.TURNAllocations())
	}
	if _, err := a.agent.disc.Connect(ctx, b.key.Public(), rendezvousv1.OfferKind_OFFER_KIND_CONNECT, a.agent.candidates(), newNonce()); err != nil {
		t.Fatal(err)
	}
	relayGranted(ctx)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Fatal("no allocation 5 s after the offer was delivered")
	}
	if p.r == nil || rv.Instance.TURNAllocations() != 1 {
		t.Fatalf("after the offer was delivered: allocation %v, %d at the rendezvous; want one", p.r, rv.Instance.TURNAllocations())
	}
	if n := rvLog.count("turn: refused allocation"); n > 0 {
		t.Errorf("%d allocations refused", n)
	}
	if n := b.drops.count(a.agent.cfg.Mux.LocalAddr().String()); n > 0 || len(b.tr.Peers()) > 0 {
		t.Fatalf("the caller reached a peer that never answered (%d punch packets)", n)
	}
}
