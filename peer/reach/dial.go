package reach

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/nat"
	"github.com/kithnet/kith/peer/transport"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Target is a peer to connect to.
type Target struct {
	// Key is the peer's identity, checked in the QUIC handshake.
	Key identity.PublicKey
	// Addr is an address to try first (host:port, the friend's --addr); in direct
	// mode the only one.
	Addr string
	// Name names the peer in errors for a person; empty: its ID.
	Name string
	// PunchSecret, when set, is the offer's punch secret instead of a fresh one: a new
	// device proves with it that it holds a join code (peer/device.JoinProof).
	PunchSecret []byte
}

func (t Target) String() string {
	if t.Name == "" {
		return string(t.Key.ID())
	}
	return t.Name + " (" + string(t.Key.ID()) + ")"
}

// Conn is a gRPC client to a peer over the path the agent chose.
type Conn struct {
	*grpc.ClientConn
	kind   Kind
	better *signal // fired when a direct path proved itself while this one is relayed
	stop   context.CancelFunc
}

// signal is a channel closed at most once, by whichever of its writers comes first.
type signal struct {
	once sync.Once
	ch   chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

func (s *signal) fire() { s.once.Do(func() { close(s.ch) }) }

// Relayed reports whether the connection runs through a TURN relay.
func (c *Conn) Relayed() bool { return c.kind == Relayed }

// Better is closed when a direct path to the peer proved itself while this connection
// runs through a relay: a caller that keeps the connection (a Watch) reconnects then,
// one that only syncs once lets it finish. Never closed for a direct connection.
func (c *Conn) Better() <-chan struct{} { return c.better.ch }

// Close closes the client and stops looking for a better path.
func (c *Conn) Close() error {
	c.stop()
	return c.ClientConn.Close()
}

// Dial connects to a peer, friend or not: at t.Addr when given; else (in rendezvous
// mode) on the best path proved earlier; else through a signed offer, punching and a
// TURN relay. Every path is proved by a QUIC handshake that checks the peer's key.
func (a *Agent) Dial(ctx context.Context, t Target) (*Conn, error) {
	if a.disc == nil {
		return a.dialAddr(t)
	}
	if t.Addr != "" {
		if addr, err := net.ResolveUDPAddr("udp", t.Addr); err == nil {
			p := &path{tr: a.cfg.Transport, addr: addr, kind: Direct}
			if c, err := a.dialPath(ctx, t.Key, p); err == nil {
				return c, nil
			} else {
				a.log.Info("friend's address did not answer; asking the rendezvous", "friend", t.Key.ID(), "addr", t.Addr, "err", err)
			}
		}
	}
	if p, ok := a.bestPath(t.Key); ok {
		if c, err := a.dialPath(ctx, t.Key, p); err == nil {
			return c, nil
		} else {
			a.forget(t.Key, p)
			a.log.Info("a known path to a friend stopped working; looking again", "friend", t.Key.ID(), "remote", p.addr, "err", err)
		}
	}
	if a.rendezvousDown() {
		// The rendezvous is unreachable: redial the last direct address that worked
		// (the friend, restarted too, dials ours: QUIC's Initials cross like punches).
		// Not merely before the first registration: a stray Initial there, before the
		// friend answered anything, can leave a conntrack entry on its router that
		// spoils the punch the offer would have made (callee first).
		if last, ok := a.cfg.Book.LastPath(t.Key); ok {
			p := &path{tr: a.cfg.Transport, addr: net.UDPAddrFromAddrPort(last), kind: Direct}
			if c, err := a.dialPath(ctx, t.Key, p); err == nil {
				a.log.Info("connected on the last known direct address (no rendezvous)", "friend", t.Key.ID(), "remote", last)
				return c, nil
			}
		}
	}
	return a.find(ctx, t)
}

// rendezvousDown reports whether the rendezvous failed us: not registered now, and the
// last session with it failed. A node still making its first registration is not down.
func (a *Agent) rendezvousDown() bool {
	s := a.disc.Status()
	return !s.Registered && s.Err != ""
}

// dialAddr is direct mode: the peer's given address, dialled lazily.
func (a *Agent) dialAddr(t Target) (*Conn, error) {
	if t.Addr == "" {
		return nil, fmt.Errorf("%s %w", t, ErrNoAddress)
	}
	addr, err := net.ResolveUDPAddr("udp", t.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s at %q: %w", t, t.Addr, err)
	}
	cc, err := a.cfg.Transport.Client(addr, t.Key)
	if err != nil {
		return nil, err
	}
	return &Conn{ClientConn: cc, kind: Direct, better: newSignal(), stop: func() {}}, nil
}

// dialPath dials p with a short timeout and, when the handshake succeeds, records p
// as proved.
func (a *Agent) dialPath(ctx context.Context, k identity.PublicKey, p *path) (*Conn, error) {
	q, c, err := a.dialQUIC(ctx, k, p)
	if err != nil {
		return nil, err
	}
	return a.conn(k, q, c, newSignal())
}

// dialQUIC dials p with a short timeout and, when the handshake succeeds, records a
// copy of p as proved now.
func (a *Agent) dialQUIC(ctx context.Context, k identity.PublicKey, p *path) (*path, *transport.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	start := time.Now()
	c, err := p.tr.Dial(dctx, p.addr, k)
	cancel()
	if err != nil {
		return nil, nil, err
	}
	q := *p
	q.proved = time.Now()
	if q.rtt == 0 {
		q.rtt = time.Since(start) / 2 // a QUIC handshake takes about two round trips: a rough figure
	}
	a.remember(k, &q)
	return &q, c, nil
}

// attempt is the outcome of one way of reaching a peer.
type attempt struct {
	p   *path
	c   *transport.Conn
	err error
	// how names the way, for the log: "quic-first" (QUIC at an answered candidate
	// before any ping), "punch", "reached-us" (the peer's punch found us first),
	// "relay" (ours), "relay-answer" (the callee's).
	how string
}

// find looks for a path through the rendezvous: an offer, and once the peer answered
// it, punching and a relay at once; whichever carries QUIC first is used. When the relay
// wins, the punch goes on, and a direct path it proves closes the Conn's Better.
func (a *Agent) find(ctx context.Context, t Target) (c *Conn, err error) {
	ctx = a.traceFind(ctx, t.Key)           // stages.go: the debug lines of each stage
	ctx, prep := a.prepareRelay(ctx, t.Key) // relayprep.go: the allocation beside the offer
	defer a.finishPrep(prep)
	start := time.Now()
	secret := t.PunchSecret
	if secret == nil {
		secret = newNonce()
	}
	relayAnswer, doneRelayAnswer := a.expectRelayAnswer(secret, t.Key) // relayanswer.go
	defer doneRelayAnswer()
	// Where we last reached the friend directly, our openers go first and the CONNECT
	// says so: the friend may dial back as it answers (dialback.go).
	opened, back, doneBack := a.openTowards(t.Key, secret)
	defer doneBack()
	bctx, cancelBack := context.WithTimeout(ctx, answerWait+backDialWait)
	defer cancelBack()
	var viaBack chan attempt
	if back != nil {
		viaBack = make(chan attempt, 1)
		go func() { viaBack <- a.awaitBack(bctx, t.Key, back) }()
	}
	// Between two endpoint-dependent NATs a friend sends its own relay too, maybe
	// before its ANSWER arrives (it is the callee's answer as well): dialled at once.
	// A stranger never does.
	vctx, cancelVia := context.WithTimeout(ctx, answerWait+a.cfg.RelayTimeout)
	defer cancelVia()
	var viaCallee chan attempt
	if a.disc != nil && a.mapping() == rendezvousv1.Mapping_MAPPING_ENDPOINT_DEPENDENT && a.friendly(t.Key) {
		viaCallee = make(chan attempt, 1)
		go func() { viaCallee <- a.viaRelayAnswer(vctx, t.Key, relayAnswer) }()
	}
	o, err := a.offer(ctx, t.Key, secret, opened)
	if err != nil || !o.answered {
		cancelVia()
		cancelBack()
		a.dropLosers(nil, viaCallee, viaBack) // no relay of ours was tried: nothing to release
	}
	if status.Code(err) == codes.NotFound {
		// The rendezvous names the missing record by fingerprint, a hash the person has
		// never seen: say who, and what it means.
		return nil, fmt.Errorf("%s is not online at the rendezvous now (their node is off, or has not registered there)", t)
	}
	if err != nil {
		return nil, fmt.Errorf("%s through the rendezvous: %w", t, err)
	}
	if !o.answered {
		// Callee first: nothing goes to a peer that did not answer. It may have
		// reached us meanwhile, though (it added us and offered itself).
		if p, ok := a.bestPath(t.Key); ok && !p.relayed() {
			if c, err := a.dialPath(ctx, t.Key, p); err == nil {
				return c, nil
			}
			a.forget(t.Key, p)
		}
		return nil, fmt.Errorf("%s did not answer (offline, or has not added you as a friend yet)", t)
	}
	if o.mapping != rendezvousv1.Mapping_MAPPING_ENDPOINT_DEPENDENT {
		cancelVia() // the callee sends a relay of its own only when both map so
	}
	better, relayWon := newSignal(), &atomic.Bool{}
	direct, relay := make(chan attempt, 1), make(chan attempt, 1)
	rctx, cancelRelay := context.WithTimeout(ctx, a.cfg.RelayTimeout)
	defer cancelRelay()
	// The punch outlives the find when the relay wins (to move to a direct path), but
	// not a dial-back's win.
	dctx, cancelDirect := context.WithCancel(context.Background())
	directOut := direct // the loop below forgets direct when another way wins; this send must not
	if !a.spawn(func(run context.Context) {
		defer cancelDirect()
		defer context.AfterFunc(run, cancelDirect)()
		directOut <- a.direct(dctx, t.Key, o, better, relayWon)
	}) {
		cancelDirect()
		return nil, fmt.Errorf("%s: %w", t, errStopped)
	}
	wait := a.headStart(o)
	if viaCallee != nil && o.mapping == rendezvousv1.Mapping_MAPPING_ENDPOINT_DEPENDENT {
		// The callee answers with its relay: ours is only the fallback, and an
		// allocation made for nothing costs the rendezvous a port and two
		// registrations of ours.
		wait = relayAnswerHeadStart
	}
	go func() {
		// The punch gets a head start of one ping interval: where both work, the
		// direct path should usually win without a switch.
		select {
		case <-time.After(wait):
		case <-rctx.Done():
		}
		relay <- a.relayAttempt(rctx, t.Key, o.permits)
	}()
	var errs []error
	for direct != nil || relay != nil || viaCallee != nil || viaBack != nil {
		var at attempt
		select {
		case at = <-direct:
			direct = nil
		case at = <-relay:
			relay = nil
		case at = <-viaCallee:
			viaCallee = nil
		case at = <-viaBack:
			viaBack = nil
		}
		if at.err != nil {
			a.log.Debug("a way to a peer failed", "peer", t.Key.ID(), "err", at.err)
			errs = append(errs, at.err)
			continue
		}
		if at.p.relayed() {
			relayWon.Store(true) // the punch goes on, to move to a direct path it proves
		}
		// The relayed ways that did not win stop, in the background (our relay's
		// permissions are not cut short): a connection one still makes is closed, and
		// an allocation of ours that nothing uses then is released.
		cancelRelay()
		cancelVia()
		cancelBack()
		if at.how == "dial-back" {
			cancelDirect()
		} else {
			direct = nil // still looking for a direct path when the relay won; else done
		}
		go a.dropLosers(relay, viaCallee, viaBack, direct)
		stage(ctx, "handshake done")
		a.log.Info("connected", "friend", t.Key.ID(), "path", at.p.kind, "remote", at.p.addr, "how", at.how, "elapsed_ms", time.Since(start).Milliseconds())
		return a.conn(t.Key, at.p, at.c, better)
	}
	return nil, fmt.Errorf("%s: no direct path (%v candidates) and no relay: %w", t, o.cands, errors.Join(errs...))
}

// dropLosers waits for the ways that lost a find (ours: our relay; nil: none, or it
// already ended), closes a connection one still made, and releases our allocation when
// our own way lost and nothing else uses it.
func (a *Agent) dropLosers(ours chan attempt, others ...chan attempt) {
	for _, late := range append([]chan attempt{ours}, others...) {
		if late != nil {
			if l := <-late; l.c != nil {
				l.c.Close()
			}
		}
	}
	if ours == nil {
		return
	}
	a.mu.Lock()
	r := a.relay
	a.mu.Unlock()
	if r != nil {
		a.releaseIdle(r)
	}
}

// relayHeadStart is how long the relay waits for the punch before it starts.
const relayHeadStart = 100 * time.Millisecond

// relayAnswerHeadStart is how long our relay waits for the callee's before it starts,
// when the callee answers with one: a primed allocation, the relay answer's way and a
// QUIC handshake through it take about five round trips.
const relayAnswerHeadStart = time.Second

// errStopped means the agent is not running (Run has not started or has returned).
var errStopped = errors.New("the node is stopping")

// direct reaches the peer's answered candidates two ways at once: QUIC at each of them
// straight away unless a NAT is known to map endpoint-dependently (eagerTargets: the
// peer's openers have opened its NAT for us, and our QUIC Initial is the punch), and
// a punch followed by QUIC on the path that answers. The first handshake wins; the
// other is stopped, and a connection it still makes is closed. When the relay has won
// meanwhile, a direct path found still counts: it is remembered and fires better.
func (a *Agent) direct(ctx context.Context, k identity.PublicKey, o offered, better *signal, relayWon *atomic.Bool) attempt {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ways := []func() attempt{func() attempt { return a.punchAndDial(ctx, k, o) }}
	if eager := a.eagerTargets(o); len(eager) > 0 {
		ways = append(ways, func() attempt { return a.dialFirst(ctx, k, eager) })
	}
	at := first(ways)
	if at.err == nil && relayWon.Load() {
		at.c.Close()
		better.fire()
	}
	return at
}

// first runs every way at once and returns the first success, or, when all fail,
// their errors joined. Connections made by the others after it are closed.
func first(ways []func() attempt) attempt {
	if len(ways) == 0 {
		return attempt{err: errors.New("reach: no way to try")} // errors.Join() of none is nil
	}
	out := make(chan attempt, len(ways))
	for _, w := range ways {
		go func() { out <- w() }()
	}
	var errs []error
	for i := range ways {
		at := <-out
		if at.err != nil {
			errs = append(errs, at.err)
			continue
		}
		go func(left int) {
			for range left {
				if late := <-out; late.c != nil {
					late.c.Close()
				}
			}
		}(len(ways) - i - 1)
		return at
	}
	return attempt{err: errors.Join(errs...)}
}

// maxEager bounds the candidates dialled at once without a punch first.
const maxEager = 8

// eagerTargets are the answered candidates worth a QUIC dial before any ping: unless
// either side is known to map endpoint-dependently (a symmetric NAT gives the Initial
// a mapping the other side's openers did not open: the punch's peer-reflexive
// addresses or the birthday method are needed), and, where the peer has IPv6
// candidates, only those (the punch prefers IPv6 too; an IPv4 dial winning the race
// would undo that). The Initials go to the addresses the punch's first round pings,
// from the same socket, after the answer: they touch no router the pings do not.
func (a *Agent) eagerTargets(o offered) []netip.AddrPort {
	const ed = rendezvousv1.Mapping_MAPPING_ENDPOINT_DEPENDENT
	if a.cfg.PunchTimeout < 0 || !o.answered || o.mapping == ed || a.mapping() == ed {
		return nil
	}
	return dialTargets(o.cands)
}

// dialTargets are the candidates of cands a QUIC dial goes to without a punch first:
// where there are IPv6 ones, only those; at most maxEager.
func dialTargets(cands []netip.AddrPort) []netip.AddrPort {
	if v6 := slices.DeleteFunc(slices.Clone(cands), func(c netip.AddrPort) bool { return !c.Addr().Is6() }); len(v6) > 0 {
		cands = v6
	}
	return cands[:min(len(cands), maxEager)]
}

// dialFirst dials QUIC at every target at once and returns the first handshake.
func (a *Agent) dialFirst(ctx context.Context, k identity.PublicKey, targets []netip.AddrPort) attempt {
	ways := make([]func() attempt, len(targets))
	for i, t := range targets {
		p := &path{tr: a.cfg.Transport, addr: net.UDPAddrFromAddrPort(t), kind: Direct}
		ways[i] = func() attempt {
			q, c, err := a.dialQUIC(ctx, k, p)
			return attempt{p: q, c: c, err: err, how: "quic-first"}
		}
	}
	return first(ways)
}

// punchAndDial punches towards the peer's answered candidates and dials QUIC on the
// path that answers.
func (a *Agent) punchAndDial(ctx context.Context, k identity.PublicKey, o offered) attempt {
	p, err := a.punch(ctx, k, o)
	if err != nil {
		if ctx.Err() != nil {
			// Stopped: another way won (its path is remembered, not to be forgotten
			// by a dial on a cancelled context), or the caller gave up.
			return attempt{err: err}
		}
		if ap, ok := a.bestPath(k); ok && !ap.relayed() {
			// Our punch found nothing, but the peer reached us meanwhile.
			if q, c, err := a.dialQUIC(ctx, k, ap); err == nil {
				return attempt{p: q, c: c, how: "reached-us"}
			}
			a.forget(k, ap)
		}
		return attempt{err: err}
	}
	q, c, err := a.dialQUIC(ctx, k, p)
	if err != nil {
		return attempt{err: fmt.Errorf("punched %s, but QUIC did not follow: %w", p.addr, err)}
	}
	return attempt{p: q, c: c, how: "punch"}
}

// relayAttempt reaches the peer through the node's TURN relay.
func (a *Agent) relayAttempt(ctx context.Context, k identity.PublicKey, permits []netip.AddrPort) attempt {
	r, addr, c, err := a.relayTo(ctx, k, permits)
	if err != nil {
		return attempt{err: err}
	}
	p := &path{tr: r.tr, addr: addr, kind: Relayed, proved: time.Now()}
	a.remember(k, p)
	return attempt{p: p, c: c, how: "relay"}
}

// punch runs one punching attempt towards the candidates peer k answered o with, when
// punching is on.
func (a *Agent) punch(ctx context.Context, k identity.PublicKey, o offered) (*path, error) {
	if a.cfg.PunchTimeout < 0 {
		return nil, nat.ErrNoPath
	}
	return a.punchFor(ctx, k, o, a.cfg.PunchTimeout)
}

// punchFor punches towards o's candidates for at most timeout, with the birthday
// method when the two NATs call for it.
func (a *Agent) punchFor(ctx context.Context, k identity.PublicKey, o offered, timeout time.Duration) (*path, error) {
	pc := nat.PunchConfig{Nonce: o.secret, Candidates: o.cands, Timeout: timeout, PreferIPv6: true}
	return a.punchPath(ctx, pc, a.birthdayFor(a.friendly(k), o.mapping, o.observed, o.cands, false))
}

// conn wraps the first QUIC connection of a proved path as a gRPC client, and, for a
// relayed path, keeps looking for a direct one while the client lives.
func (a *Agent) conn(k identity.PublicKey, p *path, first *transport.Conn, better *signal) (*Conn, error) {
	cc, err := clientOn(p.tr, p.addr, k, first)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	c := &Conn{ClientConn: cc, kind: p.kind, better: better, stop: stop}
	if p.relayed() {
		a.spawn(func(run context.Context) {
			defer context.AfterFunc(run, stop)()
			if a.upgrade(ctx, k) {
				a.log.Info("a direct path to a friend appeared; leaving the relay", "friend", k.ID())
				better.fire()
			}
		})
	}
	return c, nil
}

// upgrade punches towards a friend reached through a relay every UpgradeEvery until a
// direct path is proved by a QUIC handshake (and remembered), or the friend proved one
// (an offer we answered), and then reports true; false when ctx ends first.
func (a *Agent) upgrade(ctx context.Context, k identity.PublicKey) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(a.cfg.UpgradeEvery):
		}
		if !a.Relayed(k) {
			return true
		}
		o, err := a.offer(ctx, k, nil, netip.AddrPort{})
		if err != nil || !o.answered {
			continue
		}
		p, err := a.punchFor(ctx, k, o, max(a.cfg.PunchTimeout, 2*time.Second))
		if err != nil {
			continue
		}
		if _, c, err := a.dialQUIC(ctx, k, p); err == nil {
			c.Close()
			return true
		}
	}
}

// clientOn returns a gRPC client for the peer want at addr on tr whose first
// connection is first, already dialled (so a path is proved before it is used); later
// reconnections dial afresh.
func clientOn(tr *transport.Transport, addr net.Addr, want identity.PublicKey, first *transport.Conn) (*grpc.ClientConn, error) {
	var mu sync.Mutex
	dial := func(ctx context.Context, _ string) (net.Conn, error) {
		mu.Lock()
		c := first
		first = nil
		mu.Unlock()
		if c != nil {
			return c, nil
		}
		return tr.Dial(ctx, addr, want)
	}
	cc, err := grpc.NewClient("passthrough:///"+string(want.ID()),
		transport.ClientOptions(grpc.WithContextDialer(dial))...)
	if err != nil {
		first.Close()
	}
	return cc, err
}

// newNonce is a fresh offer nonce: 16 random bytes, what the rendezvous takes and the
// shortest a punch accepts.
func newNonce() []byte {
	b := make([]byte, 16)
	rand.Read(b)
	return b
}
