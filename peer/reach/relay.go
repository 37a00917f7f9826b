package reach

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/kithnet/kith/peer/discovery"
	"github.com/kithnet/kith/peer/nat"
	"github.com/kithnet/kith/peer/transport"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/shared/identity"
)

// errDirectAppeared ends a wait for the friend's answer through the relay: the friend
// reached us directly meanwhile.
var errDirectAppeared = errors.New("a direct path to the friend appeared")

// headStart is how long the relay attempt waits for the punch after the peer
// answered o: relayHeadStart, so that where both work the direct path usually wins
// without a switch; none when both NATs map endpoint-dependently, where punching can
// only work on a short path (a shared LAN) that beats the relay's round trips to the
// rendezvous anyway.
func (a *Agent) headStart(o offered) time.Duration {
	const hard = rendezvousv1.Mapping_MAPPING_ENDPOINT_DEPENDENT
	if o.mapping == hard && a.mapping() == hard {
		return 0
	}
	return relayHeadStart
}

// relayed is the node's one TURN allocation (a second one from the same socket would
// be refused), with a transport (path "relay") that dials and serves the sync API
// through it for every friend that needs it.
type relayed struct {
	relay  *nat.Relay
	tr     *transport.Transport
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu      sync.Mutex         // guards waiting and offered; taken after Agent.mu
	waiting map[[8]byte]waiter // by punch session: friends whose ping we wait for
	offered int                // relay answers whose caller may still come (relayanswer.go)
}

// busy reports whether an attempt waits on r or a caller we sent it to may still come.
func (r *relayed) busy() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.waiting) > 0 || r.offered > 0
}

// waiter is a friend's expected ping through the relay.
type waiter struct {
	nonce []byte
	seen  chan net.Addr
}

func (r *relayed) close() {
	r.once.Do(func() {
		r.cancel()
		r.tr.Close()
		r.wg.Wait()
		r.relay.Close()
	})
}

// ensureRelay returns the node's allocation, making it on first use.
func (a *Agent) ensureRelay(ctx context.Context) (*relayed, error) {
	r, _, err := a.ensureRelayWith(ctx, nil, nil, nil)
	return r, err
}

// ensureRelayWith is ensureRelay with credentials already fetched (nil: those the node
// holds, or fetched), reporting whether it made the allocation. gate, when set, holds
// the authenticated Allocate back until it closes (nat.TURNConfig.Gate). hold, when
// set, runs on the allocation before the lock is released, so releaseIdle cannot drop
// it in between.
func (a *Agent) ensureRelayWith(ctx context.Context, creds *rendezvousv1.TurnCredentialsResponse, gate <-chan struct{}, hold func(*relayed)) (*relayed, bool, error) {
	a.relayMu.Lock()
	defer a.relayMu.Unlock()
	a.mu.Lock()
	r := a.relay
	a.mu.Unlock()
	if r != nil {
		if hold != nil {
			hold(r)
		}
		return r, false, nil
	}
	rl, primedUsed := a.takePrimed(ctx, gate), true // relayprime.go: the 401 done ahead
	if rl == nil {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		primedUsed = false
		var err error
		if rl, err = a.allocate(ctx, creds, gate); err != nil {
			return nil, false, err
		}
	}
	tr, err := transport.New(transport.Config{Key: a.cfg.Key, DeviceCertificate: a.cfg.DeviceCertificate, PacketConn: rl.Conn, Path: transport.Relay, Logger: a.log,
		KeepAlive: a.cfg.KeepAlive, IdleTimeout: max(30*time.Second, 3*a.cfg.KeepAlive), Limits: a.cfg.Limits,
		Revoked: a.cfg.Revoked})
	if err != nil {
		rl.Close()
		return nil, false, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	r = &relayed{relay: rl, tr: tr, cancel: cancel, waiting: map[[8]byte]waiter{}}
	if a.cfg.Serve != nil {
		ln, err := tr.Listen()
		if err != nil {
			r.close()
			return nil, false, err
		}
		a.cfg.Serve(ln) // friends pull from us through the relay too
	}
	r.wg.Add(1)
	go func() { defer r.wg.Done(); r.answerPings(rctx) }()
	a.mu.Lock()
	a.relay = r
	a.mu.Unlock()
	if hold != nil {
		hold(r)
	}
	a.disc.Refresh()
	a.log.Info("TURN relay allocated", "relay", rl.Addr, "primed", primedUsed)
	stage(ctx, "allocation ready")
	return r, true, nil
}

// allocate makes a TURN allocation with creds (nil: those the node holds, or fetched),
// its authenticated request held until gate closes (nil: at once).
func (a *Agent) allocate(ctx context.Context, creds *rendezvousv1.TurnCredentialsResponse, gate <-chan struct{}) (*nat.Relay, error) {
	if creds == nil {
		var err error
		if creds, err = a.turnCreds(ctx); err != nil {
			return nil, fmt.Errorf("TURN credentials: %w", err)
		}
		stage(ctx, "credentials ready")
	}
	cfg, err := turnConfig(creds, a.disc.Status().Server, gate)
	if err != nil {
		return nil, err
	}
	rl, err := a.cfg.Mux.AllocateTURN(ctx, cfg)
	if err != nil {
		if ctx.Err() == nil {
			a.forgetCreds(creds) // the next allocation fetches afresh
		}
		return nil, err
	}
	return rl, nil
}

// turnConfig is an allocation with creds on the TURN server of the rendezvous at
// server (the one in creds' URIs, else that host), its authenticated request held
// until gate closes (nil: at once).
func turnConfig(creds *rendezvousv1.TurnCredentialsResponse, server string, gate <-chan struct{}) (nat.TURNConfig, error) {
	turnServer, err := serviceAddr(creds.GetUris(), "turn:", discovery.Addr(server))
	if err != nil {
		return nat.TURNConfig{}, err
	}
	return nat.TURNConfig{Server: turnServer, Username: creds.GetUsername(), Password: creds.GetPassword(), Gate: gate}, nil
}

// candidate is r's relay address as a candidate of an offer.
func (r *relayed) candidate() *rendezvousv1.Candidate {
	return &rendezvousv1.Candidate{Address: r.relay.Addr.String(), Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_RELAY}
}

// relayTo reaches a friend through the node's TURN relay: it lets the friend's
// addresses in, sends the relay address in a signed RELAY offer and waits for the
// friend's ping through it, which tells where the relay sees the friend; QUIC is
// dialled there.
func (a *Agent) relayTo(ctx context.Context, friend identity.PublicKey, cands []netip.AddrPort) (*relayed, net.Addr, *transport.Conn, error) {
	send := func(ctx context.Context, relay *rendezvousv1.Candidate, nonce []byte) error {
		_, err := a.disc.Connect(ctx, friend, rendezvousv1.OfferKind_OFFER_KIND_RELAY, []*rendezvousv1.Candidate{relay}, nonce)
		return err
	}
	return a.relayVia(ctx, friend, friend, cands, send)
}

// relayVia is relayTo with the RELAY offer sent by send: it waits for a ping through
// the relay (giving up when a direct path to watch appears) and dials QUIC there,
// checking the handshake shows want.
func (a *Agent) relayVia(ctx context.Context, watch, want identity.PublicKey, cands []netip.AddrPort, send func(context.Context, *rendezvousv1.Candidate, []byte) error) (*relayed, net.Addr, *transport.Conn, error) {
	nonce := newNonce()
	w := waiter{nonce: nonce, seen: make(chan net.Addr, 1)}
	id := nat.SessionID(nonce)
	r, _, err := a.ensureRelayWith(ctx, nil, nil, func(r *relayed) {
		r.mu.Lock()
		r.waiting[id] = w
		r.mu.Unlock()
	})
	if err != nil {
		return nil, nil, nil, err
	}
	defer func() {
		r.mu.Lock()
		delete(r.waiting, id)
		r.mu.Unlock()
	}()
	// The permissions and the RELAY offer go at once: the friend's first ping reaches
	// the relay after the offer has crossed the rendezvous to it, later than the
	// permission request (and a ping that came too early is followed by others).
	permitted := make(chan struct{})
	go func() { defer close(permitted); permit(r, cands); stage(ctx, "permissions made") }()
	defer func() { <-permitted }()
	if err := send(ctx, r.candidate(), nonce); err != nil {
		return nil, nil, nil, fmt.Errorf("sending the relay address: %w", err)
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var addr net.Addr
	for addr == nil {
		select {
		case addr = <-w.seen:
		case <-tick.C:
			if p, ok := a.bestPath(watch); ok && !p.relayed() {
				return nil, nil, nil, errDirectAppeared
			}
		case <-ctx.Done():
			// The friend may be away, or the allocation gone with its server (after a
			// failover): unless other friends use it, allocate afresh next time. A race
			// the punch won (cancelled, not timed out) keeps the allocation.
			if errors.Is(ctx.Err(), context.DeadlineExceeded) && len(r.tr.Peers()) == 0 {
				a.dropRelay(r)
			}
			return nil, nil, nil, fmt.Errorf("the friend did not answer through relay %s: %w", r.relay.Addr, ctx.Err())
		}
	}
	stage(ctx, "ping through the relay")
	c, err := r.tr.Dial(ctx, addr, want)
	if err != nil {
		a.dropRelay(r) // the friend answered through it but QUIC did not follow: maybe the allocation is gone
		return nil, nil, nil, err
	}
	return r, addr, c, nil
}

// permit lets each of the friend's IPs in through the relay. Public IPs go in one
// CreatePermission request (one round trip for all), the others (host candidates on
// private networks, which a rendezvous refuses unless its operator allows them, and a
// refusal fails the whole request) one request each, all at once; a refused batch is
// retried one address at a time. Nothing is relayed to the friend: see
// nat.Relay.Permit.
func permit(r *relayed, cands []netip.AddrPort) {
	public, private := splitPermits(cands)
	var wg sync.WaitGroup
	one := func(c netip.AddrPort) {
		wg.Add(1)
		go func() { defer wg.Done(); _ = r.relay.Permit(c) }()
	}
	for _, c := range private {
		one(c)
	}
	if err := r.relay.PermitAll(public); err != nil {
		for _, c := range public {
			one(c)
		}
	}
	wg.Wait()
}

// splitPermits sorts the addresses to let in by IP (a permission is per IP, so one
// address of each): public ones, and those a rendezvous may refuse.
func splitPermits(cands []netip.AddrPort) (public, private []netip.AddrPort) {
	seen := map[netip.Addr]bool{}
	for _, c := range cands {
		ip := c.Addr().Unmap()
		if !ip.IsValid() || seen[ip] {
			continue
		}
		seen[ip] = true
		if publicIP(ip) {
			public = append(public, c)
		} else {
			private = append(private, c)
		}
	}
	return public, private
}

// cgnat is the shared address space of carrier-grade NATs (RFC 6598).
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// publicIP reports whether ip is a global unicast address outside the private,
// shared and local ranges: one a rendezvous relays to by default.
func publicIP(ip netip.Addr) bool {
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !cgnat.Contains(ip)
}

// answerPings answers punch pings that arrive through the relay from friends we wait
// for, and tells each waiter where its friend's first ping came from.
func (r *relayed) answerPings(ctx context.Context) {
	buf := make([]byte, 1500)
	for {
		n, from, err := r.tr.ReadNonQUICPacket(ctx, buf)
		if err != nil {
			return
		}
		p, err := nat.ParsePacket(buf[:n])
		if err != nil || p.Kind != nat.Ping {
			continue
		}
		r.mu.Lock()
		w, ok := r.waiting[p.Session]
		r.mu.Unlock()
		if !ok || !p.Verify(w.nonce) {
			continue
		}
		// The waiter learns first: the first datagram to a new IP waits for the TURN
		// client's CreatePermission (a round trip to the server), and the QUIC dial the
		// waiter starts waits for that same permission rather than for it twice.
		select {
		case w.seen <- from:
		default:
		}
		pong := nat.Packet{Kind: nat.Pong, Tx: p.Tx}
		pong.Sign(w.nonce)
		_, _ = r.tr.WriteTo(pong.Marshal(), from)
	}
}

// dropRelay releases the node's relay (only if it is still old, when old is set), so
// the next connection that needs one allocates afresh.
func (a *Agent) dropRelay(old *relayed) {
	a.relayMu.Lock()
	defer a.relayMu.Unlock()
	a.mu.Lock()
	r := a.relay
	if old != nil && r != old {
		r = nil
	} else {
		a.relay = nil
	}
	a.mu.Unlock()
	if r != nil {
		r.close()
		a.wakePrimer()
		if a.disc != nil {
			a.disc.Refresh()
		}
	}
}
