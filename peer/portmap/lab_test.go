package portmap_test

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/portmap"
	"github.com/kithnet/kith/shared/natlab"
	"github.com/kithnet/kith/shared/testenv"
)

// The Mapper is what peer/reach takes as its PortMapper.
var _ interface {
	External() (netip.AddrPort, bool)
} = (*portmap.Mapper)(nil)

// lab has a home whose router serves every protocol, one per protocol family, one
// without any, and an outside host.
func lab(t *testing.T) *natlab.Lab {
	t.Helper()
	return natlab.New(t, natlab.Config{
		Public: []string{"x"},
		Homes: []natlab.Home{
			{Name: "all", NAT: natlab.PortRestricted, PortMap: natlab.AllPortMappers},
			{Name: "pmp", NAT: natlab.PortRestricted, PortMap: natlab.NATPMP},
			{Name: "upnp", NAT: natlab.Symmetric, PortMap: natlab.UPnP},
			{Name: "none", NAT: natlab.PortRestricted},
		},
	})
}

// start runs a Mapper for conn's port inside host's namespace until t ends, and waits
// for its first attempt.
func start(t *testing.T, host *natlab.Node, conn *net.UDPConn, cfg portmap.Config) *portmap.Mapper {
	t.Helper()
	cfg.Port = uint16(conn.LocalAddr().(*net.UDPAddr).Port)
	cfg.Within = host.Do
	cfg.Logger = slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := portmap.Start(context.Background(), cfg)
	t.Cleanup(func() { _ = m.Close() })
	select {
	case <-m.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("mapper not ready after 5 s")
	}
	return m
}

// tlog writes log lines to the test's log.
type tlog struct{ t *testing.T }

func (w tlog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func listen(t *testing.T, n *natlab.Node) *net.UDPConn {
	t.Helper()
	c, err := n.ListenUDP("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// arrives sends a datagram from `from` to `to` and reports whether conn got it.
func arrives(t *testing.T, from *net.UDPConn, to netip.AddrPort, conn *net.UDPConn) bool {
	t.Helper()
	msg := "hello " + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := from.WriteToUDPAddrPort([]byte(msg), to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	defer conn.SetReadDeadline(time.Time{})
	for {
		n, _, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return false
		}
		if string(buf[:n]) == msg {
			return true
		}
	}
}

// mapped reports whether miniupnpd's rules on home's router forward ext to the host's
// port: a DNAT rule for the external port and a filter rule letting in the host's.
func mapped(t *testing.T, l *natlab.Lab, home string, ext uint16, host netip.AddrPort) bool {
	t.Helper()
	rules, err := l.PortMappings(context.Background(), home)
	if err != nil {
		t.Fatal(err)
	}
	var dnat, accept bool
	for _, line := range strings.Split(rules, "\n") {
		f := strings.Fields(line)
		if len(f) >= 7 && f[0] == "DNAT" && f[5] == "udp" && f[6] == "dpt:"+strconv.Itoa(int(ext)) {
			dnat = true
		}
		if len(f) >= 7 && f[0] == "ACCEPT" && f[4] == host.Addr().String() && f[5] == "udp" && f[6] == "dpt:"+strconv.Itoa(int(host.Port())) {
			accept = true
		}
	}
	return dnat && accept
}

// TestLab runs the Mapper against the real miniupnpd in one lab.
func TestLab(t *testing.T) {
	testenv.Command(t, "miniupnpd", "miniupnpd-iptables")
	testenv.Command(t, "natpmpc", "natpmpc")
	l := lab(t)
	t.Run("protocols", func(t *testing.T) { protocols(t, l) })
	t.Run("nothing", func(t *testing.T) { nothing(t, l) })
	t.Run("renewal", func(t *testing.T) { renewal(t, l) })
}

// protocols maps a port with each protocol, has an outside host send to the mapped
// address, and checks that Close removes the router's rule and the path.
func protocols(t *testing.T, l *natlab.Lab) {
	x := listen(t, l.Host("x"))
	for _, tc := range []struct {
		name, home string
		protocols  []portmap.Protocol
		want       portmap.Protocol
	}{
		{"PCP", "all", []portmap.Protocol{portmap.PCP}, portmap.PCP},
		{"NAT-PMP", "all", []portmap.Protocol{portmap.NATPMP}, portmap.NATPMP},
		{"UPnP", "all", []portmap.Protocol{portmap.UPnP}, portmap.UPnP},
		{"default order picks PCP", "all", nil, portmap.PCP},
		{"NAT-PMP and PCP only", "pmp", nil, portmap.PCP},
		{"UPnP only, behind a symmetric NAT", "upnp", nil, portmap.UPnP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := l.Host(tc.home)
			inner := listen(t, host)
			local := netip.AddrPortFrom(host.Addr, uint16(inner.LocalAddr().(*net.UDPAddr).Port))
			m := start(t, host, inner, portmap.Config{Protocols: tc.protocols})
			ext, ok := m.External()
			if !ok || m.Protocol() != tc.want {
				t.Fatalf("mapping: %v %v by %v (err %v), want one by %v", ext, ok, m.Protocol(), m.Err(), tc.want)
			}
			if ext.Addr() != host.Public {
				t.Errorf("external address %s, want the router's public %s", ext.Addr(), host.Public)
			}
			if !mapped(t, l, tc.home, ext.Port(), local) {
				t.Errorf("router has no rule forwarding %d to %s", ext.Port(), local)
			}
			if !arrives(t, x, ext, inner) {
				t.Errorf("outside host's datagram to %s did not reach the inner socket", ext)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if mapped(t, l, tc.home, ext.Port(), local) {
				t.Errorf("rule for %d still on the router after Close", ext.Port())
			}
			// A new flow: the conntrack entry of the first one outlives the rule.
			if arrives(t, listen(t, l.Host("x")), ext, inner) {
				t.Errorf("outside host still reaches %s after Close", ext)
			}
		})
	}
}

// nothing: a gateway without any port-mapping service costs little at start and
// gives no mapping, whether it refuses (ICMP port unreachable) or stays silent.
func nothing(t *testing.T, l *natlab.Lab) {
	host := l.Host("none")
	for _, tc := range []struct {
		name   string
		silent bool
		budget time.Duration
	}{{"refusing gateway", false, 200 * time.Millisecond}, {"silent gateway", true, 2200 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.silent {
				rule := []string{"-w", "-I", "INPUT", "-i", "lan", "-p", "udp", "-m", "multiport", "--dports", "1900,5351", "-j", "DROP"}
				if out, err := l.Host("none-nat").Exec(context.Background(), "iptables", rule...); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
			}
			inner := listen(t, host)
			start0 := time.Now()
			m := start(t, host, inner, portmap.Config{})
			took := time.Since(start0)
			if _, ok := m.External(); ok || m.Protocol() != portmap.None || m.Err() == nil {
				t.Errorf("mapping without a port mapper: %v, err %v", m.Protocol(), m.Err())
			}
			if took > tc.budget {
				t.Errorf("first attempt took %v, want at most %v", took, tc.budget)
			}
			t.Logf("no port mapper: gave up after %v: %v", took, m.Err())
		})
	}
}

// renewal asks for lifetimes shorter than the test and checks that the mapping
// outlives several of them, while a mapping nobody renews (made by natpmpc with the
// same lifetime) is gone: miniupnpd does expire what is not renewed.
func renewal(t *testing.T, l *natlab.Lab) {
	x := listen(t, l.Host("x"))
	const life = 6 * time.Second
	for _, p := range []portmap.Protocol{portmap.PCP, portmap.NATPMP, portmap.UPnP} {
		t.Run(p.String(), func(t *testing.T) {
			t.Parallel()
			host := l.Host("all")
			inner := listen(t, host)
			local := netip.AddrPortFrom(host.Addr, uint16(inner.LocalAddr().(*net.UDPAddr).Port))
			m := start(t, host, inner, portmap.Config{Protocols: []portmap.Protocol{p}, Lifetime: life})
			ext, ok := m.External()
			if !ok {
				t.Fatalf("no mapping: %v", m.Err())
			}
			time.Sleep(5 * life / 2)
			if got, ok := m.External(); !ok || got != ext {
				t.Errorf("after %v: mapping %v %v, want %v kept (err %v)", 5*life/2, got, ok, ext, m.Err())
			}
			if !mapped(t, l, "all", ext.Port(), local) {
				t.Errorf("after %v the router's rule for %d is gone", 5*life/2, ext.Port())
			}
			if !arrives(t, x, ext, inner) {
				t.Errorf("after %v the outside host no longer reaches %s", 5*life/2, ext)
			}
		})
	}
	t.Run("control: unrenewed mapping expires", func(t *testing.T) {
		t.Parallel()
		host := l.Host("all")
		gw := "10." + strings.Split(host.Addr.String(), ".")[1] + ".0.1"
		out, err := host.Exec(context.Background(), "natpmpc", "-g", gw, "-a", "7777", "7777", "udp", strconv.Itoa(int(life/time.Second)))
		if err != nil {
			t.Fatalf("natpmpc: %v\n%s", err, out)
		}
		target := netip.AddrPortFrom(host.Addr, 7777)
		if !mapped(t, l, "all", 7777, target) {
			t.Fatalf("natpmpc's mapping is not on the router:\n%s", out)
		}
		time.Sleep(5 * life / 2)
		if mapped(t, l, "all", 7777, target) {
			t.Error("miniupnpd kept an unrenewed mapping past its lifetime: the renewal test proves nothing")
		}
	})
}
