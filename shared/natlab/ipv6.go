package natlab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// The IPv6 address plan of a lab with a Home.IPv6 home (global-looking addresses in
// 2001:db8::/32, which the lab never routes out):
//
//	internet link k   2001:db8:0:k::/64: inet's n<k> is ::1, the node's wan ::2
//	home i's LAN      2001:db8:1:i::/64 on the router's bridge "lan" (::1); hosts ::2, ::3, ...
//
// (k and i in hexadecimal.) Every public host gets IPv6 too; homes without IPv6 do not.
func linkNet6(k int) (inet, node netip.Prefix) {
	return netip.MustParsePrefix(fmt.Sprintf("2001:db8:0:%x::1/64", k)), netip.MustParsePrefix(fmt.Sprintf("2001:db8:0:%x::2/64", k))
}

func lanNet6(i, j int) netip.Prefix {
	return netip.MustParsePrefix(fmt.Sprintf("2001:db8:1:%x::%x/64", i, j))
}

// buildIPv6 makes the lab dual-stack when a home asks for it.
func (l *Lab) buildIPv6(ctx context.Context, cfg Config) error {
	any6 := false
	for _, h := range cfg.Homes {
		any6 = any6 || h.IPv6
	}
	if !any6 {
		return nil
	}
	inet := l.nodes["inet"]
	if err := inet.Sysctl("net.ipv6.conf.all.forwarding", "1"); err != nil {
		return err
	}
	for _, name := range cfg.Public {
		n := l.nodes[name]
		if err := l.link6(ctx, n); err != nil {
			return err
		}
	}
	for i, h := range cfg.Homes {
		if !h.IPv6 {
			continue
		}
		if err := l.home6(ctx, i+1, h); err != nil {
			return fmt.Errorf("natlab: home %s: IPv6: %w", h.Name, err)
		}
	}
	return nil
}

// addr6 adds an IPv6 address without duplicate address detection (nothing else
// in the lab could hold it, and a tentative address would fail the first binds).
func addr6(ctx context.Context, n *Node, dev string, p netip.Prefix) error {
	_, err := run(ctx, "ip", "-n", n.NS, "-6", "addr", "add", p.String(), "dev", dev, "nodad")
	return err
}

// link6 gives n's internet link IPv6 and a default route over it.
func (l *Lab) link6(ctx context.Context, n *Node) error {
	inet := l.nodes["inet"]
	pi, pn := linkNet6(n.link)
	if err := addr6(ctx, inet, "n"+strconv.Itoa(n.link), pi); err != nil {
		return err
	}
	if err := addr6(ctx, n, "wan", pn); err != nil {
		return err
	}
	if _, err := run(ctx, "ip", "-n", n.NS, "-6", "route", "add", "default", "via", pi.Addr().String()); err != nil {
		return err
	}
	n.Addr6 = pn.Addr()
	return nil
}

// home6 routes home i's LAN prefix and puts the stateful firewall on its router.
func (l *Lab) home6(ctx context.Context, i int, h Home) error {
	router := l.nodes[h.Name+"-nat"]
	if err := router.Sysctl("net.ipv6.conf.all.forwarding", "1"); err != nil {
		return err
	}
	if err := l.link6(ctx, router); err != nil {
		return err
	}
	gw := lanNet6(i, 1)
	if err := addr6(ctx, router, "lan", gw); err != nil {
		return err
	}
	_, wan := linkNet6(router.link)
	if _, err := run(ctx, "ip", "-n", l.nodes["inet"].NS, "-6", "route", "add", gw.Masked().String(),
		"via", wan.Addr().String(), "dev", "n"+strconv.Itoa(router.link)); err != nil {
		return err
	}
	for j, name := range h.hosts() {
		host := l.nodes[name]
		p := lanNet6(i, j+2)
		if err := addr6(ctx, host, "eth0", p); err != nil {
			return err
		}
		if _, err := run(ctx, "ip", "-n", host.NS, "-6", "route", "add", "default", "via", gw.Addr().String()); err != nil {
			return err
		}
		host.Addr6 = p.Addr()
	}
	return firewall6(ctx, router)
}

// firewall6 is a home router's stateful IPv6 firewall (RFC 6092's recommended
// default): forward what a LAN host started and its replies, nothing else; on the
// router itself, ICMPv6 (neighbour discovery needs it) and replies only.
func firewall6(ctx context.Context, router *Node) error {
	for _, rule := range [][]string{
		{"-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
		{"-A", "FORWARD", "-i", "lan", "-o", "wan", "-m", "conntrack", "--ctstate", "NEW", "-j", "ACCEPT"},
		{"-P", "FORWARD", "DROP"},
		{"-A", "INPUT", "-p", "ipv6-icmp", "-j", "ACCEPT"},
		{"-A", "INPUT", "-i", "wan", "-m", "conntrack", "--ctstate", "NEW,INVALID", "-j", "DROP"},
	} {
		if _, err := router.Exec(ctx, "ip6tables", append([]string{"-w"}, rule...)...); err != nil {
			return err
		}
	}
	return nil
}

// ListenUDP6 opens an IPv6 UDP socket inside the node's namespace. addr is
// [host]:port as for net.ListenUDP; "" means any address, a free port.
func (n *Node) ListenUDP6(addr string) (*net.UDPConn, error) {
	if addr == "" {
		addr = "[::]:0"
	}
	ua, err := net.ResolveUDPAddr("udp6", addr)
	if err != nil {
		return nil, fmt.Errorf("natlab: listen on %s in %s: %w", addr, n.Name, err)
	}
	var conn *net.UDPConn
	err = n.Do(func() (err error) {
		conn, err = net.ListenUDP("udp6", ua)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("natlab: listen on %s in %s: %w", addr, n.Name, err)
	}
	return conn, nil
}

// Firewall6 lists the named node's ip6tables filter rules with counters, for a test's
// failure message.
func (l *Lab) Firewall6(ctx context.Context, name string) (string, error) {
	n := l.nodes[name]
	if n == nil {
		return "", fmt.Errorf("natlab: no node %q", name)
	}
	out, err := n.Exec(ctx, "ip6tables", "-w", "-L", "-n", "-v")
	return strings.TrimSpace(out), err
}
