package daemon

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/kithnet/kith/peer/discovery"
	"github.com/kithnet/kith/peer/nat"
	"github.com/kithnet/kith/peer/transport"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/shared/identity"
)

// TraversalConfig is rendezvous mode: how a node finds friends known only by ID.
type TraversalConfig struct {
	// Mux demultiplexes the node's one UDP socket: STUN, punching, TURN and QUIC.
	Mux *nat.Mux
	// Servers are rendezvous gRPC addresses (host:port), with failover in this order.
	Servers []string
	// KeepAlive is how often the reflexive mapping is refreshed (a STUN binding); 15 s
	// when zero.
	KeepAlive time.Duration
	// PunchTimeout is how long punching may take before the relay is used; 3 s when
	// zero. Negative skips punching when connecting (tests of the relay path use it).
	PunchTimeout time.Duration
	// UpgradeEvery is how often a friend reached through a relay is punched again, to
	// move to a direct path once one works; 30 s when zero.
	UpgradeEvery time.Duration
	// RelayTimeout bounds the relay fallback (credentials, allocation, the friend's
	// answer); 10 s when zero.
	RelayTimeout time.Duration
	// PublishAddresses puts the candidates in plain into the registration, for
	// strangers and crawlers, while the person has a public post; and only then are
	// strangers' offers answered. Off: candidates are sealed for friends alone.
	PublishAddresses bool
	// RootCAs verify tls:// rendezvous servers; nil: the system roots.
	RootCAs *x509.CertPool
}

// route is a proved way to a friend: the transport to dial on and the address.
type route struct {
	tr    *transport.Transport
	addr  net.Addr
	relay bool
}

// traversal is the node's rendezvous side: registration, STUN, offers, punching, relays.
type traversal struct {
	cfg  TraversalConfig
	node *Node
	key  *identity.Key
	disc *discovery.Client
	log  *slog.Logger

	mu         sync.Mutex      // guards ctx, reflexive, routes, relayState, viaRelay, strangers*, answers, helpers, reach; lock order: relayMu, then mu
	ctx        context.Context // run's; nil before run and after it returns
	wg         sync.WaitGroup  // offers being answered, relays' ping answerers
	reflexive  netip.AddrPort
	routes     map[identity.PublicKey]route
	relayMu    sync.Mutex      // held while allocating
	relayState *relayed        // the node's TURN allocation, once made
	viaRelay   map[string]bool // remote addresses that are a friend's TURN relay

	strangerWindow time.Time // start of the minute strangers' offers are counted in
	strangers      int       // strangers' offers answered in that minute

	answers map[string]answerWaiter    // by punch secret: attempts waiting for a friend's ANSWER
	helpers map[identity.PublicKey]int // peers that count us as a friend though our store does not list them (a recovery asks them)
	reach   reachState                 // as last registered (refreshReach)
}

func newTraversal(cfg TraversalConfig, n *Node, key *identity.Key) (*traversal, error) {
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = nat.DefaultKeepalive
	}
	if cfg.PunchTimeout == 0 {
		cfg.PunchTimeout = 3 * time.Second
	}
	if cfg.UpgradeEvery == 0 {
		cfg.UpgradeEvery = 30 * time.Second
	}
	if cfg.RelayTimeout == 0 {
		cfg.RelayTimeout = 10 * time.Second
	}
	t := &traversal{cfg: cfg, node: n, key: key, log: n.log,
		routes: map[identity.PublicKey]route{}, viaRelay: map[string]bool{}, answers: map[string]answerWaiter{}, helpers: map[identity.PublicKey]int{}}
	disc, err := discovery.New(discovery.Config{Key: key, Servers: cfg.Servers, Candidates: t.candidates,
		OnOffer: t.onOffer, Logger: n.log, MaxBackoff: 5 * time.Second, RootCAs: cfg.RootCAs,
		ReachKey: t.reachKey, Public: t.publishes})
	if err != nil {
		return nil, err
	}
	t.disc = disc
	return t, nil
}

// run keeps the registration, the Listen stream and the reflexive address fresh until
// ctx ends, then waits for everything it started.
func (t *traversal) run(ctx context.Context) {
	t.mu.Lock()
	t.ctx = ctx
	t.mu.Unlock()
	var wg sync.WaitGroup
	t.refreshReach() // before the first registration, so it is not sent twice
	wg.Add(3)
	go func() { defer wg.Done(); t.disc.Run(ctx) }()
	go func() { defer wg.Done(); t.stun(ctx) }()
	go func() { defer wg.Done(); t.watchReach(ctx) }()
	wg.Wait()
	t.mu.Lock()
	t.ctx = nil
	t.mu.Unlock()
	t.wg.Wait()
}

// spawn runs f on a goroutine that run waits for; it reports false once run is over.
func (t *traversal) spawn(f func(ctx context.Context)) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx == nil || t.ctx.Err() != nil {
		return false
	}
	ctx := t.ctx
	t.wg.Add(1)
	go func() { defer t.wg.Done(); f(ctx) }()
	return true
}

// stun learns the reflexive address from the rendezvous' STUN server, again every
// KeepAlive (which also holds the mapping open), and re-registers when it changes.
func (t *traversal) stun(ctx context.Context) {
	for {
		wait := time.Second
		if server, ok := t.stunServer(); ok {
			bctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			a, err := t.cfg.Mux.Binding(bctx, server)
			cancel()
			t.mu.Lock()
			changed := err == nil && a != t.reflexive
			if changed {
				t.reflexive = a
			}
			known := t.reflexive.IsValid()
			t.mu.Unlock()
			if changed {
				t.log.Info("reflexive address", "addr", a, "stun", server)
				t.disc.Refresh()
			}
			if err != nil && ctx.Err() == nil {
				t.log.Warn("STUN binding failed", "stun", server, "err", err)
			}
			if known {
				wait = t.cfg.KeepAlive
			}
		}
		t.refreshReach()
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// stunServer is the STUN server of the current registration.
func (t *traversal) stunServer() (netip.AddrPort, bool) {
	st := t.disc.Status()
	a, err := serviceAddr(st.StunURIs, "stun:", discovery.Addr(st.Server))
	return a, err == nil
}

// candidates are the host addresses of the socket and the reflexive address.
func (t *traversal) candidates() []*rendezvousv1.Candidate {
	local := t.cfg.Mux.LocalAddr()
	hosts := []netip.AddrPort{local}
	if local.Addr().IsUnspecified() {
		hosts, _ = nat.HostCandidates(local.Port())
	}
	var out []*rendezvousv1.Candidate
	for _, h := range hosts {
		out = append(out, &rendezvousv1.Candidate{Address: h.String(), Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_HOST})
	}
	t.mu.Lock()
	r, rs := t.reflexive, t.relayState
	t.mu.Unlock()
	var tail []*rendezvousv1.Candidate
	if r.IsValid() && !slices.Contains(hosts, r) {
		tail = append(tail, &rendezvousv1.Candidate{Address: r.String(), Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_SERVER_REFLEXIVE})
	}
	if rs != nil { // informative: a friend reaches it only after a RELAY offer permits it
		tail = append(tail, &rendezvousv1.Candidate{Address: rs.relay.Addr.String(), Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_RELAY})
	}
	out = out[:min(len(out), 16-len(tail))] // the rendezvous takes 16
	return append(out, tail...)
}

// addrs parses candidates of the given types (all when none given).
func addrs(cands []*rendezvousv1.Candidate, types ...rendezvousv1.CandidateType) []netip.AddrPort {
	var out []netip.AddrPort
	for _, c := range cands {
		if len(types) > 0 && !slices.Contains(types, c.GetType()) {
			continue
		}
		if a, err := netip.ParseAddrPort(c.GetAddress()); err == nil {
			out = append(out, unmapped(a))
		}
	}
	return out
}

func unmapped(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }

// status is the rendezvous part of `kith status`.
func (t *traversal) status() *localv1.RendezvousStatus {
	st := t.disc.Status()
	t.mu.Lock()
	defer t.mu.Unlock()
	out := &localv1.RendezvousStatus{Mode: "rendezvous", Address: st.Server, Registered: st.Registered}
	if !st.Registered && st.Err != "" {
		out.Address, out.Error = st.Tried, st.Err
	}
	if t.reflexive.IsValid() {
		out.ReflexiveAddress = t.reflexive.String()
	}
	return out
}

// peers adds the connections on relays to ps and marks those that reach a friend's relay.
func (t *traversal) peers(ps []transport.Peer) []transport.Peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range ps {
		if t.viaRelay[ps[i].Remote] {
			ps[i].Path = transport.Relay
		}
	}
	if t.relayState != nil {
		ps = append(ps, t.relayState.tr.Peers()...)
	}
	return ps
}

// remember keeps a proved route to a friend; a relayed one never replaces a direct one.
func (t *traversal) remember(k identity.PublicKey, r route) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, ok := t.routes[k]; !ok || !r.relay || cur.relay {
		t.routes[k] = r
	}
	if r.relay && r.tr == t.node.tr {
		t.viaRelay[r.addr.String()] = true
	}
}

func (t *traversal) forget(k identity.PublicKey, r route) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, ok := t.routes[k]; ok && cur.tr == r.tr && cur.addr.String() == r.addr.String() {
		delete(t.routes, k)
	}
}

func (t *traversal) known(k identity.PublicKey) (route, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.routes[k]
	return r, ok
}

// close releases the relay.
func (t *traversal) close() { t.dropRelay(nil) }

// dropRelay releases the node's relay (only if it is still old, when old is set), so
// the next connection that needs one allocates afresh.
func (t *traversal) dropRelay(old *relayed) {
	t.relayMu.Lock()
	defer t.relayMu.Unlock()
	t.mu.Lock()
	r := t.relayState
	if old != nil && r != old {
		r = nil
	} else {
		t.relayState = nil
	}
	t.mu.Unlock()
	if r != nil {
		r.close()
		t.disc.Refresh()
	}
}
