package reach

import (
	"net"
	"net/netip"
	"time"

	"github.com/kithnet/kith/peer/transport"
	"github.com/kithnet/kith/shared/identity"
)

// Kind is where a path's remote address came from.
type Kind int

// Kinds of path, best first when all else is equal.
const (
	// Direct is a candidate the peer published or answered with (host, reflexive).
	Direct Kind = iota + 1
	// PeerReflexive is an address the peer's pings came from that no candidate named
	// (a symmetric NAT's fresh mapping).
	PeerReflexive
	// PortMapped is a mapping the peer's router made for it (PCP, NAT-PMP, UPnP-IGD).
	PortMapped
	// Relayed runs through a TURN relay.
	Relayed
)

// String names the kind as logs say it.
func (k Kind) String() string {
	switch k {
	case Direct:
		return "direct"
	case PeerReflexive:
		return "peer-reflexive"
	case PortMapped:
		return "port-mapped"
	case Relayed:
		return "relay"
	}
	return "unknown"
}

// path is one way to a remote key: the transport to dial on and the address there.
type path struct {
	tr     *transport.Transport
	addr   net.Addr
	kind   Kind
	proved time.Time     // when it last carried a QUIC handshake or answered a ping
	rtt    time.Duration // the round trip measured when it was proved; 0 unknown
}

func (p *path) relayed() bool { return p.kind == Relayed }

func (p *path) same(q *path) bool { return p.tr == q.tr && p.addr.String() == q.addr.String() }

// endpoint is what the agent knows of the paths to one remote key (one device's
// record, with devices).
type endpoint struct {
	paths []*path
	saved netip.AddrPort // the direct address last given to Book.SetLastPath
}

// better reports whether p is a better path than q: a direct one beats a relay; among
// equals, the one proved more recently, then the faster.
func better(p, q *path) bool {
	if p.relayed() != q.relayed() {
		return !p.relayed()
	}
	if !p.proved.Equal(q.proved) {
		return p.proved.After(q.proved)
	}
	return p.rtt > 0 && (q.rtt == 0 || p.rtt < q.rtt)
}

// best is the endpoint's best path, nil when it has none.
func (e *endpoint) best() *path {
	var b *path
	for _, p := range e.paths {
		if b == nil || better(p, b) {
			b = p
		}
	}
	return b
}

// bestDirect is the endpoint's best path that is not relayed, nil when none.
func (e *endpoint) bestDirect() *path {
	if b := e.best(); b != nil && !b.relayed() {
		return b
	}
	return nil
}

// add records p as proved now (replacing an older record of the same path).
func (e *endpoint) add(p *path) {
	for i, q := range e.paths {
		if q.same(p) {
			e.paths[i] = p
			return
		}
	}
	e.paths = append(e.paths, p)
}

// remove drops the record of p; it reports whether the endpoint is left empty.
func (e *endpoint) remove(p *path) bool {
	for i, q := range e.paths {
		if q.same(p) {
			e.paths = append(e.paths[:i], e.paths[i+1:]...)
			break
		}
	}
	return len(e.paths) == 0
}

// remember keeps a proved path to k; a direct one on the node's own socket is also
// kept in the Book, to be redialled when the rendezvous is unreachable.
func (a *Agent) remember(k identity.PublicKey, p *path) {
	if p.proved.IsZero() {
		p.proved = time.Now()
	}
	a.mu.Lock()
	e := a.endpoints[k]
	if e == nil {
		e = &endpoint{}
		a.endpoints[k] = e
	}
	e.add(p)
	addr, _ := p.addr.(*net.UDPAddr)
	save := !p.relayed() && p.tr == a.cfg.Transport && addr != nil && addr.AddrPort() != e.saved
	if save {
		e.saved = addr.AddrPort()
	}
	a.mu.Unlock()
	if save && a.cfg.Book.IsFriend(k) {
		if err := a.cfg.Book.SetLastPath(k, unmapped(addr.AddrPort())); err != nil {
			a.log.Debug("could not keep a friend's last direct address", "friend", k.ID(), "err", err)
		}
	}
}

// forget drops a path to k that stopped working.
func (a *Agent) forget(k identity.PublicKey, p *path) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e := a.endpoints[k]; e != nil && e.remove(p) {
		delete(a.endpoints, k)
	}
}

// bestPath is the best path known to k.
func (a *Agent) bestPath(k identity.PublicKey) (*path, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e := a.endpoints[k]; e != nil {
		if b := e.best(); b != nil {
			c := *b
			return &c, true
		}
	}
	return nil, false
}

// Relayed reports whether the best path known to k runs through a relay.
func (a *Agent) Relayed(k identity.PublicKey) bool {
	p, ok := a.bestPath(k)
	return ok && p.relayed()
}

// viaRelayLocked reports whether remote, seen on the node's own transport, is a
// friend's TURN relay (a path of kind Relayed on the main transport).
func (a *Agent) viaRelayLocked(remote string) bool {
	for _, e := range a.endpoints {
		for _, p := range e.paths {
			if p.relayed() && p.tr == a.cfg.Transport && p.addr.String() == remote {
				return true
			}
		}
	}
	return false
}
