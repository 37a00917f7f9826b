package reach

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/shared/identity"
)

// TestEagerTargets: QUIC goes to answered candidates before any ping only where
// neither NAT is known to map endpoint-dependently, only after an answer, never with punching off, at
// most maxEager of them, and only the IPv6 ones when the peer has any.
func TestEagerTargets(t *testing.T) {
	v4 := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.2:4700"), netip.MustParseAddrPort("198.51.100.7:4700")}
	v6 := netip.MustParseAddrPort("[2001:db8::5]:4700")
	var many []netip.AddrPort
	for i := range maxEager + 3 {
		many = append(many, netip.AddrPortFrom(netip.MustParseAddr("198.51.100.7"), uint16(4700+i)))
	}
	for _, tc := range []struct {
		name      string
		own, peer rendezvousv1.Mapping
		answered  bool
		punchOff  bool
		cands     []netip.AddrPort
		want      []netip.AddrPort
	}{
		{"both endpoint-independent", ei, ei, true, false, v4, v4},
		{"not answered: nothing", ei, ei, false, false, v4, nil},
		{"punching off: nothing", ei, ei, true, true, v4, nil},
		{"peer symmetric: punch only", ei, ed, true, false, v4, nil},
		{"we are symmetric: punch only", ed, ei, true, false, v4, nil},
		{"peer's mapping unknown", ei, unknown, true, false, v4, v4},
		{"our mapping unknown", unknown, ei, true, false, v4, v4},
		{"both symmetric: punch only (the relay, in the end)", ed, ed, true, false, v4, nil},
		{"IPv6 only when the peer has it", ei, ei, true, false, append(slices.Clone(v4), v6), []netip.AddrPort{v6}},
		{"at most maxEager", ei, ei, true, false, many, many[:maxEager]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Agent{mappingKind: tc.own}
			if tc.punchOff {
				a.cfg.PunchTimeout = -1
			}
			got := a.eagerTargets(offered{answered: tc.answered, mapping: tc.peer, cands: tc.cands})
			if !slices.Equal(got, tc.want) {
				t.Errorf("eagerTargets = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestFirst: the first success wins; all failures are reported together.
func TestFirst(t *testing.T) {
	errA, errB := errors.New("a failed"), errors.New("b failed")
	fail := func(err error) func() attempt { return func() attempt { return attempt{err: err} } }
	t.Run("no way: an error, not a nil connection", func(t *testing.T) {
		if at := first(nil); at.err == nil || at.c != nil {
			t.Fatalf("first of no ways: %+v", at)
		}
	})
	t.Run("all fail: every error", func(t *testing.T) {
		at := first([]func() attempt{fail(errA), fail(errB)})
		if !errors.Is(at.err, errA) || !errors.Is(at.err, errB) {
			t.Errorf("first of two failures = %v, want both errors", at.err)
		}
	})
	t.Run("a success beats failures in any order", func(t *testing.T) {
		win := &path{kind: Direct}
		slow := func() attempt { time.Sleep(20 * time.Millisecond); return attempt{p: win} }
		for _, ways := range [][]func() attempt{{fail(errA), slow}, {slow, fail(errA)}} {
			if at := first(ways); at.err != nil || at.p != win {
				t.Errorf("first = %+v, want the success", at)
			}
		}
	})
	t.Run("the earlier success wins", func(t *testing.T) {
		early, late := &path{kind: Direct}, &path{kind: Relayed}
		at := first([]func() attempt{
			func() attempt { time.Sleep(200 * time.Millisecond); return attempt{p: late} },
			func() attempt { return attempt{p: early} },
		})
		if at.p != early {
			t.Errorf("first took %+v, want the earlier success", at.p)
		}
		// The late success is drained (and, had it a connection, closed) after first
		// returned: give it the time to come, so that a drain that mishandles it (a
		// nil connection closed) fails here.
		time.Sleep(300 * time.Millisecond)
	})
}

// TestRendezvousDown: a registered node's rendezvous is not down; once the rendezvous
// is gone (its session failed, not merely unfinished) it is, and only then do friends'
// last direct addresses and own devices' kept ones get a packet before an answer.
func TestRendezvousDown(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{})
	n := newNode(t, "alice", []string{rv.GRPC}, Config{})
	if n.agent.rendezvousDown() {
		t.Fatal("a registered node calls its rendezvous down")
	}
	if err := rv.Instance.Stop(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the rendezvous is down", n.agent.rendezvousDown)
}

// TestStoppedPunchKeepsTheWinnersPath: a punch stopped because another way won (its
// context cancelled) returns at once and leaves the path that way proved; it does not
// dial it on the dead context and forget it.
func TestStoppedPunchKeepsTheWinnersPath(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{})
	a := newNode(t, "alice", []string{rv.GRPC}, Config{})
	peer, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	won := &path{tr: a.tr, addr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}, kind: Direct, proved: time.Now()}
	a.agent.remember(peer.Public(), won)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o := offered{secret: newNonce(), answered: true, cands: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9")}}
	if at := a.agent.punchAndDial(ctx, peer.Public(), o); at.err == nil {
		t.Fatal("a punch on a cancelled context succeeded")
	}
	if p, ok := a.agent.bestPath(peer.Public()); !ok || !p.same(won) {
		t.Errorf("after a stopped punch the proved path is %v, %v; want it kept", p, ok)
	}
}

// TestDialPunchedWithoutQuicFirst: where quic-first does not run (our NAT maps
// endpoint-dependently), the punch alone connects, and its QUIC handshake is used.
func TestDialPunchedWithoutQuicFirst(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{}) // no TURN: only a direct path can do
	a, b := newNode(t, "alice", []string{rv.GRPC}, Config{}), newNode(t, "bob", []string{rv.GRPC}, Config{})
	befriend(t, a, b)
	a.agent.mu.Lock()
	a.agent.mappingKind = ed
	a.agent.mu.Unlock()
	for _, n := range []*node{a, b} {
		waitUntil(t, n.name+" listening", func() bool { return n.agent.disc.Status().Listening })
	}
	// One dial, no retry: a retry would start from the path the first one proved.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := a.agent.Dial(ctx, Target{Key: b.key.Public(), Name: b.name})
	if err != nil {
		t.Fatalf("alice dials bob, the punch alone: %v", err)
	}
	defer c.Close()
	if c.Relayed() {
		t.Fatal("relayed without a relay")
	}
}
