package natlab

import (
	"fmt"
	"time"
)

// NAT is a kind of home router NAT.
type NAT int

const (
	// PortRestricted maps endpoint-independently (one public port per private
	// socket, whatever the destination) and filters by address and port: only the
	// exact endpoints the host sent to may answer. Plain MASQUERADE; most home routers.
	PortRestricted NAT = iota + 1
	// FullCone maps endpoint-independently and lets anyone on the internet reach a
	// mapped port: MASQUERADE plus a DNAT of all inbound UDP to the (single) host.
	FullCone
	// Symmetric gives every new destination a new random public port
	// (MASQUERADE --random), so the port a STUN server saw is useless to a peer.
	Symmetric
)

// String names the kind as test names and logs use it.
func (k NAT) String() string {
	switch k {
	case PortRestricted:
		return "port-restricted"
	case FullCone:
		return "full-cone"
	case Symmetric:
		return "symmetric"
	}
	return fmt.Sprintf("NAT(%d)", int(k))
}

// Home is a home network: a LAN with hosts behind a NAT router, optionally behind a
// carrier-grade NAT too.
type Home struct {
	// Name names the home; its router is the node Name+"-nat", its carrier-grade
	// NAT (when CGN is set) Name+"-cgn".
	Name string
	// NAT is the kind of the home router's NAT.
	NAT NAT
	// CGN puts a carrier-grade NAT (plain MASQUERADE, endpoint-independent mapping)
	// between the home router and the internet: a double NAT.
	CGN bool
	// Hosts names the hosts on the LAN. Empty means one host named Name.
	Hosts []string
	// PortMap, when not zero, makes the home router run Debian's miniupnpd serving
	// these protocols (see portmap.go). Its internet link then has a non-reserved
	// address: miniupnpd refuses to map behind a reserved one.
	PortMap PortMapper
	// IPv6 makes the home dual-stack: global-looking IPv6 addresses on the LAN,
	// routed (not translated) by a router with a stateful ip6tables firewall that
	// lets in only flows a LAN host started (see ipv6.go).
	IPv6 bool
	// NoInputFirewall leaves the home router (and its CGN) without the rule that
	// drops unsolicited input from the WAN, as many home routers ship: an unsolicited
	// datagram to its public address is then delivered locally (to a closed port) and
	// leaves a confirmed conntrack entry (see firewall.go).
	NoInputFirewall bool
}

// Netem is what an internet link does to packets, after tc netem (see
// Lab.SetNetem for how). The zero value means nothing.
type Netem struct {
	// Delay is added to every packet crossing the link towards the node.
	Delay time.Duration
	// Jitter varies Delay by up to this much.
	Jitter time.Duration
	// Loss is the percentage (0-100) of packets dropped towards the node.
	Loss float64
}

func (n Netem) zero() bool { return n == Netem{} }

// Config describes a lab.
type Config struct {
	// Public names hosts with a public address on the internet (a rendezvous, a
	// STUN reflector, an unsolicited stranger).
	Public []string
	// Homes lists the home networks.
	Homes []Home
	// Netem, when set, applies to every internet link (see Lab.SetNetem).
	Netem Netem
	// UDPTimeout, when set, is the conntrack UDP timeout (both the unreplied and the
	// stream timeout) in every NAT, so tests of keepalives need not wait minutes.
	UDPTimeout time.Duration
}

func (c Config) validate() error {
	seen := map[string]bool{"inet": true}
	add := func(name string) error {
		if name == "" || len(name) > 20 {
			return fmt.Errorf("natlab: node name %q must be 1 to 20 characters", name)
		}
		if seen[name] {
			return fmt.Errorf("natlab: node name %q used twice (inet is the router's)", name)
		}
		seen[name] = true
		return nil
	}
	for _, p := range c.Public {
		if err := add(p); err != nil {
			return err
		}
	}
	for _, h := range c.Homes {
		if h.NAT < PortRestricted || h.NAT > Symmetric {
			return fmt.Errorf("natlab: home %q has no NAT kind", h.Name)
		}
		if h.NAT == FullCone && len(h.hosts()) != 1 {
			return fmt.Errorf("natlab: home %q: a full cone NAT forwards inbound UDP to exactly one host", h.Name)
		}
		if err := h.validateExtras(); err != nil {
			return err
		}
		names := append([]string{h.Name + "-nat"}, h.hosts()...)
		if h.CGN {
			names = append(names, h.Name+"-cgn")
		}
		for _, n := range names {
			if err := add(n); err != nil {
				return err
			}
		}
	}
	if len(c.Public)+len(c.Homes) > 250 || len(c.Homes) > 250 {
		return fmt.Errorf("natlab: too many nodes")
	}
	return nil
}

func (h Home) hosts() []string {
	if len(h.Hosts) == 0 {
		return []string{h.Name}
	}
	return h.Hosts
}

// Standard is the lab of the NAT matrix: two homes of every kind (so a kind meets
// itself across two NATs), a double NAT pair, two hosts behind one NAT, a
// rendezvous host "rv" and a stranger "x" on the internet.
func Standard() Config {
	return Config{
		Public: []string{"rv", "x"},
		Homes: []Home{
			{Name: "pr1", NAT: PortRestricted}, {Name: "pr2", NAT: PortRestricted},
			{Name: "fc1", NAT: FullCone}, {Name: "fc2", NAT: FullCone},
			{Name: "sym1", NAT: Symmetric}, {Name: "sym2", NAT: Symmetric},
			{Name: "dbl1", NAT: PortRestricted, CGN: true}, {Name: "dbl2", NAT: PortRestricted, CGN: true},
			{Name: "lan", NAT: PortRestricted, Hosts: []string{"lan1", "lan2"}},
		},
	}
}

// Pairs is the benchmarks' lab: two port-restricted homes (pr1, pr2), two symmetric
// ones (sym1, sym2), a public host "rv", and oneWay of delay on every internet link.
func Pairs(oneWay time.Duration) Config {
	return Config{
		Public: []string{"rv"},
		Homes: []Home{
			{Name: "pr1", NAT: PortRestricted}, {Name: "pr2", NAT: PortRestricted},
			{Name: "sym1", NAT: Symmetric}, {Name: "sym2", NAT: Symmetric},
		},
		Netem: Netem{Delay: oneWay},
	}
}

// StandardKind names the NAT in front of a host of Standard, for assertions that say
// which pair failed: "port-restricted", "full-cone", "symmetric", "double-NAT", or
// "same-NAT" for the two hosts behind one NAT; "?" for a host Standard does not have.
func StandardKind(host string) string {
	if host == "" {
		return "?"
	}
	switch host[:len(host)-1] {
	case "pr":
		return "port-restricted"
	case "fc":
		return "full-cone"
	case "sym":
		return "symmetric"
	case "dbl":
		return "double-NAT"
	case "lan":
		return "same-NAT"
	}
	return "?"
}
