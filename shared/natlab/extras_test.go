package natlab_test

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/natlab"
	"github.com/kithnet/kith/shared/testenv"
)

// TestPortMapRouter proves the lab's port-mapping router with miniupnpd's own
// clients (natpmpc, upnpc): a non-reserved public address, a mapping that an outside
// host reaches the LAN host through, and each protocol off when not asked for.
func TestPortMapRouter(t *testing.T) {
	testenv.Command(t, "natpmpc", "natpmpc")
	testenv.Command(t, "upnpc", "miniupnpc")
	lab := natlab.New(t, natlab.Config{
		Public: []string{"x"},
		Homes: []natlab.Home{
			{Name: "all", NAT: natlab.PortRestricted, PortMap: natlab.AllPortMappers},
			{Name: "pmp", NAT: natlab.PortRestricted, PortMap: natlab.NATPMP},
			{Name: "upnp", NAT: natlab.PortRestricted, PortMap: natlab.UPnP},
		},
	})
	ctx := context.Background()
	x := listen(t, lab.Host("x"), 0)
	for _, tc := range []struct {
		home       string
		pmp, upnp  bool
		port       int
		publicAddr string
	}{
		{"all", true, true, 6001, "11.0.2.2"},
		{"pmp", true, false, 6002, "11.0.3.2"},
		{"upnp", false, true, 6003, "11.0.4.2"},
	} {
		t.Run(tc.home, func(t *testing.T) {
			h := lab.Host(tc.home)
			if h.Public.String() != tc.publicAddr {
				t.Fatalf("public address of %s is %s, want %s (non-reserved)", tc.home, h.Public, tc.publicAddr)
			}
			gw := "10." + lanOctet(t, h) + ".0.1"
			inner := listen(t, h, tc.port)
			out, err := h.Exec(ctx, "natpmpc", "-g", gw, "-a",
				itoa(tc.port), itoa(tc.port), "udp", "60")
			pmpOK := err == nil && strings.Contains(out, "Mapped public port")
			if pmpOK != tc.pmp {
				t.Errorf("natpmpc mapping worked=%v, want %v: %v\n%s", pmpOK, tc.pmp, err, out)
			}
			out, err = h.Exec(ctx, "upnpc", "-u", "http://"+gw+":2189/rootDesc.xml",
				"-e", "lab", "-a", h.Addr.String(), itoa(tc.port+100), itoa(tc.port+100), "UDP", "60")
			upnpOK := err == nil && strings.Contains(out, "is redirected to internal")
			if upnpOK != tc.upnp {
				t.Errorf("upnpc mapping worked=%v, want %v: %v\n%s", upnpOK, tc.upnp, err, out)
			}
			rules, err := lab.PortMappings(ctx, tc.home)
			if err != nil {
				t.Fatal(err)
			}
			if want := "dpt:" + itoa(tc.port); tc.pmp != strings.Contains(rules, want) {
				t.Errorf("miniupnpd's nat rules (want %s: %v):\n%s", want, tc.pmp, rules)
			}
			if tc.pmp && !receives(t, x, netip.AddrPortFrom(h.Public, uint16(tc.port)), inner) {
				t.Errorf("outside host's datagram to the mapped %s:%d did not reach the LAN host", h.Public, tc.port)
			}
			if !tc.pmp && receives(t, x, netip.AddrPortFrom(h.Public, uint16(tc.port)), inner) {
				t.Errorf("outside host reached an unmapped port %s:%d", h.Public, tc.port)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// lanOctet is the i of a home host's 10.i.0.x address.
func lanOctet(t *testing.T, h *natlab.Node) string {
	t.Helper()
	return strings.Split(h.Addr.String(), ".")[1]
}

// v6Lab has two dual-stack homes and a dual-stack stranger.
var v6Lab = natlab.Config{
	Public: []string{"x"},
	Homes: []natlab.Home{
		{Name: "a", NAT: natlab.PortRestricted, IPv6: true},
		{Name: "b", NAT: natlab.Symmetric, IPv6: true},
		{Name: "v4", NAT: natlab.PortRestricted},
	},
}

// TestIPv6Firewall proves the dual-stack homes: global addresses routed without NAT,
// a stateful firewall that drops unsolicited datagrams, and two hosts that open both
// firewalls by sending to each other at the same time.
func TestIPv6Firewall(t *testing.T) {
	lab := natlab.New(t, v6Lab)
	ctx := context.Background()
	a, b, x := lab.Host("a"), lab.Host("b"), lab.Host("x")
	for _, n := range []*natlab.Node{a, b, x, lab.Host("a-nat")} {
		if !n.Addr6.IsGlobalUnicast() || n.Addr6.IsPrivate() {
			t.Fatalf("%s: IPv6 address %s is not global-looking", n.Name, n.Addr6)
		}
	}
	if lab.Host("v4").Addr6.IsValid() {
		t.Errorf("home without IPv6 got %s", lab.Host("v4").Addr6)
	}
	ca, cb, cx := listen6(t, a), listen6(t, b), listen6(t, x)
	pa := netip.AddrPortFrom(a.Addr6, port6(ca))
	pb := netip.AddrPortFrom(b.Addr6, port6(cb))

	t.Run("outbound flows work, replies come back", func(t *testing.T) {
		if _, err := ca.WriteToUDPAddrPort([]byte("hello"), netip.AddrPortFrom(x.Addr6, port6(cx))); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		// The first packet of a fresh lab may wait out one neighbour-discovery retry
		// (1 s) on the way: with br_netfilter loaded on the host, a first solicitation
		// can be dropped by a router's FORWARD policy. The firewall's rules are what
		// this test judges, not that latency.
		_ = cx.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, src, err := cx.ReadFromUDPAddrPort(buf)
		_ = cx.SetReadDeadline(time.Time{})
		if err != nil {
			t.Fatalf("a cannot send to x over IPv6: %v", err)
		}
		if src.Addr() != a.Addr6 {
			t.Errorf("x saw source %s, want a's own %s (no NAT on IPv6)", src.Addr(), a.Addr6)
		}
		if !receivesWithin(t, cx, src, ca) {
			t.Error("x's reply to a's flow was dropped")
		}
	})
	t.Run("unsolicited is dropped", func(t *testing.T) {
		if receivesWithin(t, cx, pb, cb) {
			t.Error("x reached b without b sending to it first")
		}
		other := listen6(t, x)
		if receivesWithin(t, other, pa, ca) {
			t.Error("x from another port reached a, which had sent only to x's first port")
		}
		if receivesWithin(t, cb, pa, ca) {
			t.Error("b reached a before a sent anything to b")
		}
		fw, _ := lab.Firewall6(ctx, "a-nat")
		t.Logf("a-nat:\n%s", fw)
	})
	t.Run("simultaneous open", func(t *testing.T) {
		var wg sync.WaitGroup
		var gotA, gotB bool
		wg.Add(2)
		go func() { defer wg.Done(); gotA = punch(ca, pb) }()
		go func() { defer wg.Done(); gotB = punch(cb, pa) }()
		wg.Wait()
		if !gotA || !gotB {
			t.Fatalf("punching through both IPv6 firewalls: a got b's packet %v, b got a's %v", gotA, gotB)
		}
		// A fresh socket: a's first subtest opened a's flow to cx's port on purpose.
		stranger := listen6(t, x)
		if receivesWithin(t, stranger, pa, ca) || receivesWithin(t, stranger, pb, cb) {
			t.Error("after the punch a stranger reaches a or b")
		}
		if !receivesWithin(t, ca, pb, cb) || !receivesWithin(t, cb, pa, ca) {
			t.Error("after the punch a and b cannot keep talking")
		}
	})
}

// receivesWithin sends from "from" to "to" every 200 ms for up to 2 s and reports
// whether conn got one of them. A fresh dual-stack lab's first packet on a path may wait
// out a neighbour-discovery retry (1 s, see above), in either direction: a single try
// with a short wait would call a flow the firewall lets through dropped, and would let a
// check that something is dropped pass on that latency alone. Resending cannot open a
// stateful firewall from the outside, so the negative checks lose nothing.
func receivesWithin(t *testing.T, from *net.UDPConn, to netip.AddrPort, conn *net.UDPConn) bool {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if receivesIn(t, from, to, conn, 200*time.Millisecond) {
			return true
		}
	}
	return false
}

// punch sends to peer every 50 ms for up to 2 s and reports whether a datagram from
// peer arrived; it keeps sending a little after that, so the peer gets one too.
func punch(conn *net.UDPConn, peer netip.AddrPort) bool {
	buf := make([]byte, 64)
	deadline := time.Now().Add(2 * time.Second)
	got := false
	extra := 0
	for time.Now().Before(deadline) && extra < 5 {
		_, _ = conn.WriteToUDPAddrPort([]byte("punch"), peer)
		_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, src, err := conn.ReadFromUDPAddrPort(buf)
		if err == nil && src == peer && string(buf[:n]) == "punch" {
			got = true
		}
		if got {
			extra++
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	// Drain the punches still in flight so later reads see only new datagrams.
	_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	for {
		if _, _, err := conn.ReadFromUDPAddrPort(buf); err != nil {
			break
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	return got
}

func listen6(t *testing.T, n *natlab.Node) *net.UDPConn {
	t.Helper()
	conn, err := n.ListenUDP6("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func port6(c *net.UDPConn) uint16 { return c.LocalAddr().(*net.UDPAddr).AddrPort().Port() }
