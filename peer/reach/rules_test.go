package reach

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/transport"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
)

// TestStrangerBudget: at most strangerOffersPerMinute strangers' offers are answered
// a minute; a check without spending takes nothing; a new minute brings a new budget.
func TestStrangerBudget(t *testing.T) {
	a := &Agent{}
	if !a.strangerBudget(false) || !a.strangerBudget(false) || a.strangers != 0 {
		t.Fatal("a check that does not spend took from the budget")
	}
	for i := range strangerOffersPerMinute {
		if !a.strangerBudget(true) {
			t.Fatalf("offer %d of %d refused", i+1, strangerOffersPerMinute)
		}
	}
	if a.strangerBudget(true) || a.strangerBudget(false) {
		t.Fatalf("offer %d within one minute answered", strangerOffersPerMinute+1)
	}
	a.strangerWindow = a.strangerWindow.Add(-time.Minute + time.Second)
	if a.strangerBudget(true) {
		t.Fatal("the budget came back before the minute was over")
	}
	a.strangerWindow = a.strangerWindow.Add(-time.Second)
	if !a.strangerBudget(true) || a.strangers != 1 {
		t.Fatalf("a new minute did not bring a new budget (strangers %d)", a.strangers)
	}
}

// TestLivenessTimes: a connection counts as quiet after a keepalive interval and a
// half of receiving nothing, and is sampled four times an interval, never more often
// than every 250 ms.
func TestLivenessTimes(t *testing.T) {
	a := &Agent{cfg: Config{KeepAlive: 10 * time.Second}}
	if got := a.stale(); got != 15*time.Second {
		t.Errorf("stale = %v, want 15s", got)
	}
	for ka, want := range map[time.Duration]time.Duration{
		4 * time.Second:        time.Second,
		300 * time.Millisecond: 250 * time.Millisecond,
	} {
		if got := liveEvery(ka); got != want {
			t.Errorf("liveEvery(%v) = %v, want %v", ka, got, want)
		}
	}
}

// TestDialGivenAddress: a friend's address given with the target is dialled first,
// even when the rendezvous has never heard of the friend.
func TestDialGivenAddress(t *testing.T) {
	rv1 := rendezvoustest.Start(t, rendezvous.Config{})
	rv2 := rendezvoustest.Start(t, rendezvous.Config{})
	a, b := newNode(t, "alice", []string{rv1.GRPC}, Config{}), newNode(t, "bob", []string{rv2.GRPC}, Config{})
	befriend(t, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := a.agent.Dial(ctx, Target{Key: b.key.Public(), Name: "bob", Addr: b.agent.cfg.Mux.LocalAddr().String()})
	if err != nil {
		t.Fatalf("dialling a friend at the address given: %v", err)
	}
	defer c.Close()
	if c.Relayed() {
		t.Fatal("a friend dialled at its address went through a relay")
	}
}

// TestDialNotOnline: a friend the rendezvous has no record of is named as not online
// there, at once, not after waiting for an answer that cannot come.
func TestDialNotOnline(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{})
	a := newNode(t, "alice", []string{rv.GRPC}, Config{})
	carol := mustKey(t)
	if err := a.st.PutFriend(store.Friend{Key: carol.Public(), Name: "carol"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := a.agent.Dial(ctx, Target{Key: carol.Public(), Name: "carol"})
	if err == nil || !strings.Contains(err.Error(), "is not online at the rendezvous") {
		t.Fatalf("dialling a friend with no record: %v, want 'not online at the rendezvous'", err)
	}
	if d := time.Since(start); d >= answerWait {
		t.Errorf("the dial took %v: it waited for an answer from a peer with no record", d)
	}
}

// TestUpgradeByCaller: a caller reached its friend through the relay, and only the
// caller punches again (the callee never dialled): its upgrade round proves a direct
// path, with a punch of its own even when first punching is off, and closes the
// connection it proved it with.
func TestUpgradeByCaller(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNAllowPrivate: true})
	servers := []string{rv.GRPC}
	a := newNode(t, "alice", servers, Config{PunchTimeout: -1, UpgradeEvery: 300 * time.Millisecond})
	b := newNode(t, "bob", servers, Config{PunchTimeout: -1})
	befriend(t, a, b)
	c := dial(t, a, b)
	if !c.Relayed() {
		t.Fatal("with punching off the first path is not the relay")
	}
	c.Connect() // gRPC's preface: bob's side of the connection opens
	waitUntil(t, "bob lists alice on the relay path", func() bool {
		for _, p := range b.agent.Peers() {
			if p.ID == a.key.ID() && p.Path == transport.Relay {
				return true
			}
		}
		return false
	})
	select {
	case <-c.Better():
	case <-time.After(10 * time.Second):
		t.Fatal("the caller's upgrade rounds found no direct path in 10 s")
	}
	if a.agent.Relayed(b.key.Public()) {
		t.Fatal("Better fired, but the best path known is still the relay")
	}
	for _, p := range a.tr.Peers() {
		if p.ID == b.key.ID() {
			t.Fatalf("the connection the upgrade proved its path with is still open: %+v", p)
		}
	}
}
