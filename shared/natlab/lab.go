package natlab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/testenv"
)

// Lab is a running NAT lab.
type Lab struct {
	t      testing.TB // nil for a lab made by Build
	prefix string
	nodes  map[string]*Node
	links  int // internet links made so far; link k joins inet's n<k> to a node's wan

	mu       sync.Mutex
	netem    map[string]Netem    // by the internet router's device
	delayers map[string]*delayer // by the internet router's device
}

// Node is one namespace of the lab: a host, a NAT router, or the internet router.
type Node struct {
	// Name is the node's name in the Config ("a", "a-nat", "a-cgn", "inet").
	Name string
	// NS is the network namespace's name, for `ip netns exec NS ...`.
	NS string
	// Addr is the node's own address: its public address for public hosts and for
	// the outermost NAT of a home, its LAN address for home hosts, its address on
	// the carrier network for a home router behind a CGN.
	Addr netip.Addr
	// Public is the address the internet sees for traffic from this node: Addr for
	// public hosts, the outermost NAT's public address for home hosts and routers.
	Public netip.Addr
	// Addr6 is the node's global IPv6 address in a dual-stack lab (public hosts and
	// the hosts and routers of Home.IPv6 homes); invalid otherwise.
	Addr6 netip.Addr

	link int // the internet link this node's traffic crosses
}

// New builds the lab described by cfg for t and removes it when t ends, also when t
// fails. It skips t (fails it under CI=true) without root, ip or iptables.
func New(t testing.TB, cfg Config) *Lab {
	t.Helper()
	testenv.Root(t)
	testenv.Command(t, "ip", "iproute2")
	testenv.Command(t, "iptables", "iptables")
	ctx := context.Background()
	if err := RemoveLeftovers(ctx); err != nil {
		t.Logf("natlab: %v", err)
	}
	var r [3]byte
	_, _ = rand.Read(r[:])
	prefix := fmt.Sprintf("natlab-%d-%s-", os.Getpid(), hex.EncodeToString(r[:]))
	var lab *Lab
	t.Cleanup(func() {
		if lab != nil {
			lab.stopDelayers()
		}
		if err := RemoveNamespaces(context.Background(), prefix); err != nil {
			t.Errorf("natlab: cleanup: %v", err)
		}
	})
	start := time.Now()
	lab, err := Build(ctx, prefix, cfg)
	if err != nil {
		t.Fatal(err)
	}
	lab.t = t
	lab.startPortMappers(t, cfg)
	t.Logf("natlab: %d namespaces %s* up in %v", len(lab.nodes), prefix, time.Since(start).Round(time.Millisecond))
	return lab
}

// Build builds the lab described by cfg with namespaces named prefix+node. On error
// it removes what it made. Tests use New; Build serves the by-hand lab of
// deploy/natlab, which passes a prefix that RemoveLeftovers never matches.
func Build(ctx context.Context, prefix string, cfg Config) (*Lab, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	l := &Lab{prefix: prefix, nodes: map[string]*Node{}, netem: map[string]Netem{}, delayers: map[string]*delayer{}}
	if err := l.build(ctx, cfg); err != nil {
		l.stopDelayers()
		if rerr := RemoveNamespaces(context.WithoutCancel(ctx), prefix); rerr != nil {
			err = fmt.Errorf("%w (and %v)", err, rerr)
		}
		return nil, err
	}
	return l, nil
}

// Close stops the lab's delayers and removes every namespace of the lab.
func (l *Lab) Close(ctx context.Context) error {
	l.stopDelayers()
	return RemoveNamespaces(ctx, l.prefix)
}

// Node returns the named node, or nil.
func (l *Lab) Node(name string) *Node { return l.nodes[name] }

// Host returns the named node. A test asking for a node its Config did not declare
// has a bug: Host fails the lab's test (panics for a lab made by Build).
func (l *Lab) Host(name string) *Node {
	n := l.nodes[name]
	if n == nil {
		msg := fmt.Sprintf("natlab: no node %q in this lab (have %s)", name, strings.Join(l.Names(), ", "))
		if l.t != nil {
			l.t.Helper()
			l.t.Fatal(msg)
		}
		panic(msg)
	}
	return n
}

// Names lists the nodes, sorted.
func (l *Lab) Names() []string {
	var names []string
	for n := range l.nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Command returns a command that runs name inside the node's namespace
// (ip netns exec), for the real kith binaries and tools.
func (n *Node) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.NS, name}, args...)...)
}

// Exec runs name inside the node's namespace and returns its combined output.
func (n *Node) Exec(ctx context.Context, name string, args ...string) (string, error) {
	return run(ctx, "ip", append([]string{"netns", "exec", n.NS, name}, args...)...)
}

// Do runs f on a thread inside the node's namespace. Sockets f opens stay in the
// namespace for their whole life, so Go code of the test can play a host.
func (n *Node) Do(f func() error) error { return inNetns(n.NS, f) }

// ListenUDP opens a UDP socket inside the node's namespace. addr is host:port as
// for net.ListenUDP; "" means any address, a free port. The caller closes it.
func (n *Node) ListenUDP(addr string) (*net.UDPConn, error) {
	if addr == "" {
		addr = ":0"
	}
	ua, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return nil, fmt.Errorf("natlab: listen on %s in %s: %w", addr, n.Name, err)
	}
	var conn *net.UDPConn
	err = n.Do(func() (err error) {
		conn, err = net.ListenUDP("udp4", ua)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("natlab: listen on %s in %s: %w", addr, n.Name, err)
	}
	return conn, nil
}

// Sysctl sets a sysctl (dotted name, as for sysctl -w) inside the node's namespace.
func (n *Node) Sysctl(name, value string) error {
	path := filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/"))
	return n.Do(func() error {
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			return fmt.Errorf("natlab: sysctl %s=%s in %s: %w", name, value, n.Name, err)
		}
		return nil
	})
}
