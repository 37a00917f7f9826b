package reach

import (
	"net"
	"testing"
	"time"
)

// The best path: direct beats relayed whatever their age; among equals the one proved
// more recently, then the faster; forgetting the last path empties the endpoint.
func TestBestPath(t *testing.T) {
	now := time.Now()
	at := func(port int) net.Addr { return &net.UDPAddr{IP: net.IPv4(198, 51, 100, 1), Port: port} }
	old, fresh := now.Add(-time.Minute), now
	direct := &path{addr: at(1), kind: Direct, proved: old, rtt: 40 * time.Millisecond}
	reflexive := &path{addr: at(2), kind: PeerReflexive, proved: fresh, rtt: 50 * time.Millisecond}
	relayed := &path{addr: at(3), kind: Relayed, proved: fresh, rtt: 10 * time.Millisecond}
	fast := &path{addr: at(4), kind: Direct, proved: old, rtt: 20 * time.Millisecond}
	unknown := &path{addr: at(5), kind: Direct, proved: old}
	for _, tc := range []struct {
		name string
		p, q *path
		want bool
	}{
		{"direct over relayed, though older", direct, relayed, true},
		{"relayed under direct", relayed, direct, false},
		{"fresher among direct", reflexive, direct, true},
		{"older among direct", direct, reflexive, false},
		{"faster at the same age", fast, direct, true},
		{"slower at the same age", direct, fast, false},
		{"known RTT over unknown", direct, unknown, true},
		{"unknown RTT under known", unknown, direct, false},
	} {
		if got := better(tc.p, tc.q); got != tc.want {
			t.Errorf("%s: better = %v, want %v", tc.name, got, tc.want)
		}
	}
	e := &endpoint{}
	for _, p := range []*path{relayed, direct, fast} {
		e.add(p)
	}
	if b := e.best(); b != fast {
		t.Errorf("best of relayed, direct, fast: %v", b.addr)
	}
	if e.bestDirect() != fast {
		t.Error("bestDirect is not the best direct path")
	}
	e.add(&path{addr: at(4), kind: Direct, proved: old, rtt: 90 * time.Millisecond}) // the same path, measured again
	if len(e.paths) != 3 || e.best() != direct {
		t.Errorf("re-adding a path: %d paths, best %v; want 3, the direct one", len(e.paths), e.best().addr)
	}
	if e.remove(direct) || e.remove(fast) {
		t.Fatal("endpoint reported empty while a path remains")
	}
	if e.bestDirect() != nil {
		t.Error("bestDirect with only a relay left")
	}
	if !e.remove(relayed) {
		t.Error("endpoint not empty after its last path went")
	}
	for k, want := range map[Kind]string{Direct: "direct", PeerReflexive: "peer-reflexive", PortMapped: "port-mapped", Relayed: "relay", 0: "unknown"} {
		if k.String() != want {
			t.Errorf("Kind(%d) = %q, want %q", k, k, want)
		}
	}
}
