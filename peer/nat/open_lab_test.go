package nat

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/natlab"
)

// calleeFirst punches the way peer/reach does: the callee sends openers (TTL from its
// measured NAT depth) and only then lets the caller start (the ANSWER); the caller pings
// at full TTL; the callee pings only where the caller's pings come from.
func calleeFirst(t *testing.T, caller, callee *labPeer, ttl int, timeout time.Duration) (pa, pb Path, ea, eb error) {
	t.Helper()
	nonce := NewNonce()
	answered := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		pb, eb = callee.mux.Punch(context.Background(), PunchConfig{Nonce: nonce, Candidates: caller.candidates, Timeout: timeout,
			OpenerTTL: ttl, Opened: func() { close(answered) }})
	}()
	go func() {
		defer wg.Done()
		<-answered
		time.Sleep(20 * time.Millisecond) // the ANSWER crosses the rendezvous
		pa, ea = caller.mux.Punch(context.Background(), PunchConfig{Nonce: nonce, Candidates: callee.candidates, Timeout: timeout})
	}()
	wg.Wait()
	return
}

// openLab has home routers without an input firewall (plain MASQUERADE, as many ship),
// one of them behind a carrier-grade NAT without one either, beside firewalled ones.
func openLab() natlab.Config {
	return natlab.Config{
		Public: []string{"rv"},
		Homes: []natlab.Home{
			{Name: "po1", NAT: natlab.PortRestricted, NoInputFirewall: true},
			{Name: "po2", NAT: natlab.PortRestricted, NoInputFirewall: true},
			{Name: "co1", NAT: natlab.PortRestricted, CGN: true, NoInputFirewall: true},
			{Name: "co2", NAT: natlab.PortRestricted, CGN: true, NoInputFirewall: true},
			{Name: "pf1", NAT: natlab.PortRestricted},
			{Name: "fo1", NAT: natlab.FullCone, NoInputFirewall: true},
			{Name: "so1", NAT: natlab.Symmetric, NoInputFirewall: true},
		},
	}
}

// TestCalleeFirstThroughOpenRouters: between routers that take unsolicited input
// (no INPUT firewall), a punch in which either side's packet may land on the far router
// first fails; callee first with low-TTL openers finds the direct path for every pair
// where one side maps endpoint-independently, in both roles, and leaves no entry for
// the callee on the caller's router before the caller sent. The openers' TTL comes from
// the hops counted inside each host's own NATs: one behind a home router, two behind a
// home router and a carrier-grade NAT.
func TestCalleeFirstThroughOpenRouters(t *testing.T) {
	lab := natlab.New(t, openLab())
	stunServer := startReflector(t, lab)
	depth := map[string]int{"po1": 1, "po2": 1, "co1": 2, "co2": 2, "pf1": 1, "fo1": 1, "so1": 1}
	for host, want := range depth {
		var d int
		err := lab.Host(host).Do(func() (err error) {
			d, err = NATDepth(context.Background(), stunServer, 6)
			return err
		})
		if err != nil || d != want {
			t.Errorf("%s: NAT depth %d, %v; want %d", host, d, err, want)
		}
	}
	for _, tc := range []struct{ d, ttl int }{{-1, 2}, {0, 2}, {1, 2}, {2, 3}, {3, 4}} {
		if got := OpenerTTL(tc.d); got != tc.ttl {
			t.Errorf("OpenerTTL(%d) = %d, want %d", tc.d, got, tc.ttl)
		}
	}
	for _, tc := range []struct{ a, b string }{
		{"po1", "po2"}, {"po2", "po1"}, {"po1", "co1"}, {"co1", "po1"}, {"co1", "co2"}, {"co2", "co1"},
		{"po1", "pf1"}, {"pf1", "po1"}, {"fo1", "po2"}, {"po2", "fo1"},
	} {
		t.Run(tc.a+"-calls-"+tc.b, func(t *testing.T) {
			caller, callee := newLabPeer(t, lab, tc.a, stunServer), newLabPeer(t, lab, tc.b, stunServer)
			pa, pb, ea, eb := calleeFirst(t, caller, callee, OpenerTTL(depth[tc.b]), 3*time.Second)
			if ea != nil || eb != nil {
				t.Fatalf("%s calls %s, callee first: caller %v (%+v), callee %v (%+v)", tc.a, tc.b, ea, pa, eb, pb)
			}
			if pa.Remote != callee.candidates[1] {
				t.Errorf("%s calls %s: path to %s, want the callee's reflexive %s", tc.a, tc.b, pa.Remote, callee.candidates[1])
			}
		})
	}
}

// TestOpenersDoNotReachTheFarRouter: the callee's openers leave no conntrack entry on
// the caller's router (they die at the internet router), where a full-TTL packet does.
func TestOpenersDoNotReachTheFarRouter(t *testing.T) {
	lab := natlab.New(t, natlab.Config{Public: []string{"rv"}, Homes: []natlab.Home{
		{Name: "qo1", NAT: natlab.PortRestricted, NoInputFirewall: true},
		{Name: "qo2", NAT: natlab.PortRestricted, NoInputFirewall: true},
	}})
	stunServer := startReflector(t, lab)
	caller, callee := newLabPeer(t, lab, "qo1", stunServer), newLabPeer(t, lab, "qo2", stunServer)
	router := lab.Host("qo1-nat")
	calleeIP := callee.candidates[1].Addr().String()
	entries := func() string {
		out, err := router.Conntrack(context.Background())
		if err != nil {
			t.Fatalf("conntrack -L on qo1's router: %v\n%s", err, out)
		}
		var mine []string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "src="+calleeIP+" ") && strings.Contains(l, "udp") {
				mine = append(mine, l)
			}
		}
		return strings.Join(mine, "\n")
	}
	ping := Packet{Kind: Ping}
	ping.Sign(NewNonce())
	for _, tc := range []struct {
		ttl   int
		entry bool
	}{{OpenerTTL(1), false}, {64, true}} {
		if err := callee.mux.WriteTTL(ping.Marshal(), caller.candidates[1], tc.ttl); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		if got := entries(); (got != "") != tc.entry {
			t.Errorf("TTL %d: conntrack entries from the callee on the caller's router: %q; want any: %v", tc.ttl, got, tc.entry)
		} else {
			t.Logf("TTL %d: %s", tc.ttl, fmt.Sprint(got != ""))
		}
	}
}
