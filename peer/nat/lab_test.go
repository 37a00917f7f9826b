package nat

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/natlab"
)

// labPeer is a Go-level peer in the lab: a Mux on a socket in a host's namespace and
// the candidates it would put in its registration.
type labPeer struct {
	name       string
	mux        *Mux
	candidates []netip.AddrPort // host, then server-reflexive
}

// newLabPeer opens a socket in host, learns its reflexive address from the STUN
// reflector and returns the peer with its candidates.
func newLabPeer(t testing.TB, lab *natlab.Lab, host string, stunServer netip.AddrPort) *labPeer {
	t.Helper()
	n := lab.Host(host)
	conn, err := n.ListenUDP(":0")
	if err != nil {
		t.Fatal(err)
	}
	m := muxOn(t, conn)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	srflx, err := m.Binding(ctx, stunServer)
	if err != nil {
		t.Fatalf("%s: %v", host, err)
	}
	var hosts []netip.AddrPort
	err = n.Do(func() (err error) { hosts, err = HostCandidates(m.LocalAddr().Port()); return err })
	if err != nil {
		t.Fatal(err)
	}
	if want := netip.AddrPortFrom(n.Addr, m.LocalAddr().Port()); len(hosts) != 1 || hosts[0] != want {
		t.Fatalf("%s: host candidates %v, want [%s]", host, hosts, want)
	}
	return &labPeer{name: host, mux: m, candidates: append(hosts, srflx)}
}

// punchPeers punches between a and b at once with a fresh shared nonce, each given
// the other's candidates, as signalling would.
func punchPeers(a, b *labPeer, timeout time.Duration) (pa, pb Path, ea, eb error) {
	nonce := NewNonce()
	return punchBoth(a.mux, b.mux,
		PunchConfig{Nonce: nonce, Candidates: b.candidates, Timeout: timeout},
		PunchConfig{Nonce: nonce, Candidates: a.candidates, Timeout: timeout})
}

// startReflector serves STUN on the lab's rv host until t ends.
func startReflector(t testing.TB, lab *natlab.Lab) netip.AddrPort {
	t.Helper()
	rv := lab.Host("rv")
	conn, err := rv.ListenUDP(":3478")
	if err != nil {
		t.Fatal(err)
	}
	natlab.RunSTUN(t, conn)
	return netip.AddrPortFrom(rv.Addr, 3478)
}

// TestNATMatrix is the matrix the integrated test repeats with the real binaries:
// two peers behind every pair of NAT kinds learn their reflexive addresses by STUN,
// exchange candidates (here the test passes them), punch at once, and must find a
// direct path exactly where one is possible: both mappings endpoint-independent, or
// one side full cone. Where a path forms, QUIC must run over it.
func TestNATMatrix(t *testing.T) {
	lab := natlab.New(t, natlab.Standard())
	stunServer := startReflector(t, lab)
	for _, tc := range []struct {
		a, b   string
		direct bool
	}{
		{"pr1", "pr2", true},
		{"pr1", "fc1", true},
		{"pr1", "sym1", false},
		{"pr1", "dbl1", true},
		{"fc1", "fc2", true},
		{"fc1", "sym1", true},
		{"fc1", "dbl1", true},
		{"sym1", "sym2", false},
		{"sym1", "dbl1", false},
		{"dbl1", "dbl2", true},
		{"lan1", "lan2", true},
	} {
		pair := fmt.Sprintf("%s(%s)<->%s(%s)", tc.a, natlab.StandardKind(tc.a), tc.b, natlab.StandardKind(tc.b))
		t.Run(tc.a+"-"+tc.b, func(t *testing.T) {
			t.Parallel()
			a, b := newLabPeer(t, lab, tc.a, stunServer), newLabPeer(t, lab, tc.b, stunServer)
			pa, pb, ea, eb := punchPeers(a, b, 2*time.Second)
			formed := ea == nil && eb == nil
			t.Logf("%s: candidates %v / %v; a: %+v %v; b: %+v %v", pair, a.candidates, b.candidates, pa, ea, pb, eb)
			if formed != tc.direct {
				t.Fatalf("%s: direct path formed = %v, want %v (a: %v, b: %v)", pair, formed, tc.direct, ea, eb)
			}
			if !formed {
				return
			}
			if err := quicEcho(t, b.mux.PacketConn(), a.mux.PacketConn(), net.UDPAddrFromAddrPort(pa.Remote)); err != nil {
				t.Errorf("%s: QUIC over the punched path %s -> %s: %v", pair, tc.a, pa.Remote, err)
			}
		})
	}
}

// TestKeepaliveHoldsMappings punches two peers behind port-restricted NATs whose UDP
// timeout is 2 s, leaves the path idle for 4 s, and then sends across it: with
// keepalives every 500 ms the datagram arrives, without them the NAT has forgotten
// the mapping and drops it.
func TestKeepaliveHoldsMappings(t *testing.T) {
	lab := natlab.New(t, natlab.Config{
		Public: []string{"rv"},
		Homes: []natlab.Home{
			{Name: "ka1", NAT: natlab.PortRestricted}, {Name: "ka2", NAT: natlab.PortRestricted},
			{Name: "idle1", NAT: natlab.PortRestricted}, {Name: "idle2", NAT: natlab.PortRestricted},
		},
		UDPTimeout: 2 * time.Second,
	})
	stunServer := startReflector(t, lab)
	for _, tc := range []struct {
		a, b      string
		keepalive bool
	}{{"ka1", "ka2", true}, {"idle1", "idle2", false}} {
		t.Run(fmt.Sprintf("keepalive=%v", tc.keepalive), func(t *testing.T) {
			t.Parallel()
			a, b := newLabPeer(t, lab, tc.a, stunServer), newLabPeer(t, lab, tc.b, stunServer)
			pa, pb, ea, eb := punchPeers(a, b, 2*time.Second)
			if ea != nil || eb != nil {
				t.Fatalf("punch: %v, %v", ea, eb)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			if tc.keepalive {
				wg.Add(2)
				go func() {
					defer wg.Done()
					_ = Keepalive(ctx, a.mux, net.UDPAddrFromAddrPort(pa.Remote), 500*time.Millisecond)
				}()
				go func() {
					defer wg.Done()
					_ = Keepalive(ctx, b.mux, net.UDPAddrFromAddrPort(pb.Remote), 500*time.Millisecond)
				}()
			}
			time.Sleep(4 * time.Second)
			cancel()
			wg.Wait()
			arrived := sendQUICLike(t, a.mux, pa.Remote, b.mux)
			if arrived != tc.keepalive {
				t.Errorf("after 4 s idle with a 2 s UDP timeout, keepalives %v: datagram arrived = %v, want %v",
					tc.keepalive, arrived, tc.keepalive)
			}
		})
	}
}

// sendQUICLike sends a datagram with the QUIC fixed bit from a to `to` and reports
// whether it reached b's QUIC PacketConn.
func sendQUICLike(t *testing.T, a *Mux, to netip.AddrPort, b *Mux) bool {
	t.Helper()
	msg := []byte{0x40, 'k', 'i', 't', 'h', byte(time.Now().UnixNano())}
	if _, err := a.WriteTo(msg, net.UDPAddrFromAddrPort(to)); err != nil {
		t.Fatal(err)
	}
	pc := b.PacketConn()
	_ = pc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	defer pc.SetReadDeadline(time.Time{})
	buf := make([]byte, 100)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return false
		}
		if string(buf[:n]) == string(msg) {
			return true
		}
	}
}

// TestPunchUnderLossAndDelay punches and runs QUIC across an internet with 40 ms
// towards every node (80 ms round trips) and 5% loss on every link, both through two
// endpoint-independent NATs and through full cone against symmetric.
func TestPunchUnderLossAndDelay(t *testing.T) {
	lab := natlab.New(t, natlab.Config{
		Public: []string{"rv"},
		Homes: []natlab.Home{
			{Name: "pr1", NAT: natlab.PortRestricted}, {Name: "fc1", NAT: natlab.FullCone},
			{Name: "sym1", NAT: natlab.Symmetric}, {Name: "dbl1", NAT: natlab.PortRestricted, CGN: true},
		},
		Netem: natlab.Netem{Delay: 40 * time.Millisecond, Loss: 5},
	})
	stunServer := startReflector(t, lab)
	for _, tc := range []struct{ a, b string }{{"pr1", "dbl1"}, {"fc1", "sym1"}} {
		t.Run(tc.a+"-"+tc.b, func(t *testing.T) {
			t.Parallel()
			a, b := newLabPeer(t, lab, tc.a, stunServer), newLabPeer(t, lab, tc.b, stunServer)
			pa, pb, ea, eb := punchPeers(a, b, 4*time.Second)
			if ea != nil || eb != nil {
				t.Fatalf("%s-%s with loss and delay: no path: %v, %v", tc.a, tc.b, ea, eb)
			}
			if pa.RTT < 80*time.Millisecond || pb.RTT < 80*time.Millisecond {
				t.Errorf("punch round trips %v and %v, want at least the 80 ms the lab adds", pa.RTT, pb.RTT)
			}
			if err := quicEcho(t, b.mux.PacketConn(), a.mux.PacketConn(), net.UDPAddrFromAddrPort(pa.Remote)); err != nil {
				t.Errorf("%s-%s: QUIC with loss and delay: %v", tc.a, tc.b, err)
			}
		})
	}
}

// TestRelayWhereDirectFails takes the pairs of the matrix that cannot punch and
// connects them the way the fallback does: the caller allocates on a real
// TURN server (coturn on the lab's rendezvous host) from its shared socket, gives the
// friend its relay address through signalling (here: the test), and QUIC runs from
// the friend's socket to the relay and on to the caller's relay PacketConn.
func TestRelayWhereDirectFails(t *testing.T) {
	lab := natlab.New(t, natlab.Config{
		Public: []string{"rv"},
		Homes: []natlab.Home{
			{Name: "sym1", NAT: natlab.Symmetric}, {Name: "sym2", NAT: natlab.Symmetric},
			{Name: "pr1", NAT: natlab.PortRestricted},
		},
	})
	stunServer := startReflector(t, lab)
	turnServer := startCoturnIn(t, lab.Host("rv"))
	for _, tc := range []struct{ caller, friend string }{{"sym1", "sym2"}, {"pr1", "sym1"}} {
		pair := fmt.Sprintf("%s(%s)->%s(%s)", tc.caller, natlab.StandardKind(tc.caller), tc.friend, natlab.StandardKind(tc.friend))
		t.Run(tc.caller+"-"+tc.friend, func(t *testing.T) {
			t.Parallel()
			a, b := newLabPeer(t, lab, tc.caller, stunServer), newLabPeer(t, lab, tc.friend, stunServer)
			if _, _, ea, eb := punchPeers(a, b, time.Second); ea == nil || eb == nil {
				t.Fatalf("%s: punch formed a direct path (%v, %v); this test wants the relay case", pair, ea, eb)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			user, pass := turnServer.credentials("fingerprint-of-"+tc.caller, time.Now().Add(time.Hour))
			relay, err := a.mux.AllocateTURN(ctx, turnServer.config(user, pass))
			if err != nil {
				t.Fatalf("%s: allocate: %v", pair, err)
			}
			defer relay.Close()
			// A permission covers the friend's IP, whatever port its NAT picks.
			if _, err := relay.Conn.WriteTo([]byte{0}, net.UDPAddrFromAddrPort(b.candidates[1])); err != nil {
				t.Fatal(err)
			}
			if err := quicEcho(t, relay.Conn, b.mux.PacketConn(), net.UDPAddrFromAddrPort(relay.Addr)); err != nil {
				t.Errorf("%s: QUIC through the relay %s: %v", pair, relay.Addr, err)
			}
		})
	}
}
