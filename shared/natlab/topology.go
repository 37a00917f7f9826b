package natlab

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
)

// The address plan (deploy/natlab/README.md draws it):
//
//	internet link k   198.18.k.0/24: inet's n<k> is .1, the node's wan is .2
//	home i's LAN      10.i.0.0/24 on the router's bridge "lan" (.1); hosts .2, .3, ...
//	home i's CGN net  100.64.i.0/24: the CGN's "in" is .1, the home router's wan .2
func linkNet(k int) (inet, node netip.Prefix) {
	return netip.MustParsePrefix(fmt.Sprintf("198.18.%d.1/24", k)), netip.MustParsePrefix(fmt.Sprintf("198.18.%d.2/24", k))
}

func (l *Lab) build(ctx context.Context, cfg Config) error {
	inet, err := l.addNode(ctx, "inet")
	if err != nil {
		return err
	}
	if err := inet.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
		return err
	}
	for _, name := range cfg.Public {
		n, err := l.addNode(ctx, name)
		if err != nil {
			return err
		}
		if err := l.connectInternet(ctx, n); err != nil {
			return err
		}
	}
	for i, h := range cfg.Homes {
		if err := l.buildHome(ctx, i+1, h); err != nil {
			return fmt.Errorf("natlab: home %s: %w", h.Name, err)
		}
	}
	if err := l.buildExtras(ctx, cfg); err != nil {
		return err
	}
	if cfg.UDPTimeout > 0 {
		if err := l.SetUDPTimeout(cfg.UDPTimeout); err != nil {
			return err
		}
	}
	if !cfg.Netem.zero() {
		for _, n := range l.nodes {
			if n.link > 0 && n.Public == n.Addr && n.Name != "inet" {
				if err := l.SetNetem(ctx, n.Name, cfg.Netem); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// addNode makes the node's namespace with its loopback up.
func (l *Lab) addNode(ctx context.Context, name string) (*Node, error) {
	n := &Node{Name: name, NS: l.prefix + name}
	if _, err := run(ctx, "ip", "netns", "add", n.NS); err != nil {
		return nil, err
	}
	l.nodes[name] = n
	if _, err := run(ctx, "ip", "-n", n.NS, "link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	return n, nil
}

// connectInternet joins n to the internet router on a new link, as its wan.
func (l *Lab) connectInternet(ctx context.Context, n *Node) error {
	l.links++
	k := l.links
	if k > 254 {
		return fmt.Errorf("natlab: more than 254 internet links")
	}
	inetAddr, nodeAddr := linkNet(k)
	inet := l.nodes["inet"]
	dev := "n" + strconv.Itoa(k)
	if err := veth(ctx, inet, dev, inetAddr, n, "wan", nodeAddr); err != nil {
		return err
	}
	if _, err := run(ctx, "ip", "-n", n.NS, "route", "add", "default", "via", inetAddr.Addr().String()); err != nil {
		return err
	}
	n.Addr, n.Public, n.link = nodeAddr.Addr(), nodeAddr.Addr(), k
	return nil
}

// veth joins a's devA (address pa) to b's devB (address pb) and brings both up. An
// invalid prefix leaves that end without an address.
func veth(ctx context.Context, a *Node, devA string, pa netip.Prefix, b *Node, devB string, pb netip.Prefix) error {
	if _, err := run(ctx, "ip", "-n", a.NS, "link", "add", "name", devA, "type", "veth", "peer", "name", devB, "netns", b.NS); err != nil {
		return err
	}
	for _, end := range []struct {
		n   *Node
		dev string
		p   netip.Prefix
	}{{a, devA, pa}, {b, devB, pb}} {
		if end.p.IsValid() {
			if _, err := run(ctx, "ip", "-n", end.n.NS, "addr", "add", end.p.String(), "dev", end.dev); err != nil {
				return err
			}
		}
		if _, err := run(ctx, "ip", "-n", end.n.NS, "link", "set", end.dev, "up"); err != nil {
			return err
		}
	}
	return nil
}

// buildHome makes home i: its router (behind a CGN when asked), its LAN and hosts.
func (l *Lab) buildHome(ctx context.Context, i int, h Home) error {
	router, err := l.addNode(ctx, h.Name+"-nat")
	if err != nil {
		return err
	}
	if err := router.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
		return err
	}
	if h.CGN {
		cgn, err := l.addNode(ctx, h.Name+"-cgn")
		if err != nil {
			return err
		}
		if err := cgn.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
			return err
		}
		if err := l.connectInternet(ctx, cgn); err != nil {
			return err
		}
		cgnIn := netip.MustParsePrefix(fmt.Sprintf("100.64.%d.1/24", i))
		routerWAN := netip.MustParsePrefix(fmt.Sprintf("100.64.%d.2/24", i))
		if err := veth(ctx, cgn, "in", cgnIn, router, "wan", routerWAN); err != nil {
			return err
		}
		if _, err := run(ctx, "ip", "-n", router.NS, "route", "add", "default", "via", cgnIn.Addr().String()); err != nil {
			return err
		}
		if err := iptables(ctx, cgn, "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"); err != nil {
			return err
		}
		if err := firewall(ctx, h, cgn); err != nil {
			return err
		}
		router.Addr, router.Public, router.link = routerWAN.Addr(), cgn.Public, cgn.link
	} else if err := l.connectInternet(ctx, router); err != nil {
		return err
	}

	gw := netip.MustParsePrefix(fmt.Sprintf("10.%d.0.1/24", i))
	if _, err := run(ctx, "ip", "-n", router.NS, "link", "add", "lan", "type", "bridge"); err != nil {
		return err
	}
	if _, err := run(ctx, "ip", "-n", router.NS, "addr", "add", gw.String(), "dev", "lan"); err != nil {
		return err
	}
	if _, err := run(ctx, "ip", "-n", router.NS, "link", "set", "lan", "up"); err != nil {
		return err
	}
	var hosts []*Node
	for j, name := range h.hosts() {
		host, err := l.addNode(ctx, name)
		if err != nil {
			return err
		}
		addr := netip.MustParsePrefix(fmt.Sprintf("10.%d.0.%d/24", i, j+2))
		port := "h" + strconv.Itoa(j+1)
		if err := veth(ctx, router, port, netip.Prefix{}, host, "eth0", addr); err != nil {
			return err
		}
		if _, err := run(ctx, "ip", "-n", router.NS, "link", "set", port, "master", "lan"); err != nil {
			return err
		}
		if _, err := run(ctx, "ip", "-n", host.NS, "route", "add", "default", "via", gw.Addr().String()); err != nil {
			return err
		}
		host.Addr, host.Public, host.link = addr.Addr(), router.Public, router.link
		hosts = append(hosts, host)
	}
	if err := firewall(ctx, h, router); err != nil {
		return err
	}
	return natRules(ctx, router, h.NAT, hosts)
}

// dropUnsolicited drops new connections from the WAN to the router itself, as every
// home router's firewall does. It matters beyond realism: a datagram that is
// delivered locally (to a closed port) leaves a confirmed conntrack entry, and
// when a peer's punch arrives before the host's own first packet to that peer, the
// entry occupies the reply tuple, MASQUERADE then picks another port for the host,
// and simultaneous open fails. A dropped packet's entry is never confirmed.
func dropUnsolicited(ctx context.Context, n *Node) error {
	return iptables(ctx, n, "-A", "INPUT", "-i", "wan", "-m", "conntrack", "--ctstate", "NEW,INVALID", "-j", "DROP")
}

// natRules installs the home router's NAT of the given kind.
func natRules(ctx context.Context, router *Node, kind NAT, hosts []*Node) error {
	masq := []string{"-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"}
	switch kind {
	case PortRestricted:
		return iptables(ctx, router, masq...)
	case Symmetric:
		return iptables(ctx, router, append(masq, "--random")...)
	case FullCone:
		if err := iptables(ctx, router, masq...); err != nil {
			return err
		}
		// MASQUERADE keeps the host's source port when it is free, so the mapped
		// port is the host's port and inbound UDP to it goes straight to the host.
		return iptables(ctx, router, "-t", "nat", "-A", "PREROUTING", "-i", "wan", "-p", "udp",
			"-j", "DNAT", "--to-destination", hosts[0].Addr.String())
	}
	return fmt.Errorf("natlab: unknown NAT kind %v", kind)
}

func iptables(ctx context.Context, n *Node, args ...string) error {
	_, err := n.Exec(ctx, "iptables", append([]string{"-w"}, args...)...)
	return err
}
