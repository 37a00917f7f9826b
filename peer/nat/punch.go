package nat

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"
)

// ErrNoPath says no candidate answered a punch in time: the NATs on the way do not
// allow a direct path (or the friend is gone); fall back to TURN.
var ErrNoPath = errors.New("nat: no candidate answered the punch")

// PunchConfig is one hole punching attempt.
type PunchConfig struct {
	// Nonce is this attempt's secret, shared with the friend through signed
	// signalling; both ends must use the same one. At least MinNonceLen bytes.
	Nonce []byte
	// Candidates are the friend's addresses: host, server-reflexive, relay.
	Candidates []netip.AddrPort
	// Timeout bounds the attempt. Zero: 5 s.
	Timeout time.Duration
	// Interval is the time between rounds of pings to every target. Zero: 100 ms.
	Interval time.Duration
	// Linger is how long, after Punch returns, this Mux still answers the friend's
	// pings of the attempt, so that the friend's side completes too. Zero: 5 s;
	// never less than three Intervals.
	Linger time.Duration
	// OpenerTTL, when set, makes this the callee's side of a callee-first attempt:
	// every target first gets an opener (a ping with this TTL, which opens this host's
	// own NATs and dies before the far router), and full pings go only to addresses a
	// valid ping of the session came from, until Escalate. A crossing packet then
	// never lands on the far router before the caller's own packets have passed it
	// (a router that takes it in leaves a conntrack entry that moves the caller's
	// mapping to another port).
	OpenerTTL int
	// Escalate is how long an OpenerTTL attempt waits for the caller's pings before it
	// pings every target at full TTL (what a full cone behind the caller needs when
	// our side maps symmetrically). Zero: never.
	Escalate time.Duration
	// Opened, when set, is called once the first packets are on the wire (the
	// openers): the callee sends its ANSWER then, so the caller's pings find our NAT
	// open.
	Opened func()
	// Spray, when its Count is set, makes this the easy side of the birthday method.
	Spray Spray
	// PreferIPv6 makes a path over IPv4 that answers first wait up to two Intervals
	// (the next round of pings, if the first was lost) for one over IPv6 among the
	// targets, which wins if it answers in that time: a
	// global IPv6 address crosses no NAT (only stateful firewalls), so the path needs
	// no mapping kept alive and survives a NAT's reboot.
	PreferIPv6 bool
}

// Spray is the easy side of the birthday method: the friend sits behind a NAT that
// maps every destination to a new random port (symmetric) and has opened many
// mappings towards our one public address from sockets of its own; pings to random
// ports of its public IP find one of them. Our own mapping must be
// endpoint-independent, or the friend's mappings point at an address we do not use.
type Spray struct {
	// Addr is the friend's public IP.
	Addr netip.Addr
	// Count is how many distinct ports (in 1024-65535, where Linux draws a random
	// mapping from) get a ping at most; 0: no spray.
	Count int
	// Burst pings go out every Every (zero: 20 every 10 ms), until one is answered.
	Burst int
	Every time.Duration
	// After is how long to wait before the first burst: the time the friend needs to
	// open its mappings.
	After time.Duration
}

// SprayPorts are the ports a symmetric Linux NAT draws mappings from (1024-65535).
const (
	sprayLow  = 1024
	sprayHigh = 65535
	// SprayRange is how many ports a Spray draws from.
	SprayRange = sprayHigh - sprayLow + 1
)

// sprayPorts returns n distinct random ports in [sprayLow, sprayHigh].
func sprayPorts(n int) []uint16 {
	n = min(n, SprayRange)
	perm := make([]uint16, SprayRange)
	for i := range perm {
		perm[i] = uint16(sprayLow + i)
	}
	var b [8]byte
	for i := 0; i < n; i++ { // a partial Fisher-Yates shuffle
		_, _ = rand.Read(b[:])
		j := i + int(binary.LittleEndian.Uint64(b[:])%uint64(SprayRange-i))
		perm[i], perm[j] = perm[j], perm[i]
	}
	return perm[:n]
}

// Path is a direct path that answered.
type Path struct {
	// Local is the shared socket's address.
	Local netip.AddrPort
	// Remote is the friend's address that answered: dial QUIC there.
	Remote netip.AddrPort
	// PeerReflexive says Remote was not among the candidates: the friend's NAT
	// (typically a symmetric one) gave its pings a new mapping we learnt from them.
	PeerReflexive bool
	// RTT is the round trip of the ping that answered.
	RTT time.Duration
}

// punchEvent is a verified punch packet of a session, from the Mux's reader.
type punchEvent struct {
	kind Kind
	tx   [8]byte
	from netip.AddrPort
	at   time.Time
}

// session is a punch attempt registered with the Mux.
type session struct {
	nonce  []byte
	events chan punchEvent
	until  time.Time // zero while Punch runs; then the end of its linger
}

// Punch sends pings to every candidate at once, answers the friend's pings (those
// from addresses not among the candidates too, which then become targets), and
// returns the first path whose ping was answered. It fails with ErrNoPath when
// nothing answers within the timeout.
func (m *Mux) Punch(ctx context.Context, cfg PunchConfig) (Path, error) {
	if len(cfg.Nonce) < MinNonceLen {
		return Path{}, ErrShortNonce
	}
	timeout, interval, linger := orDefault(cfg.Timeout, 5*time.Second), orDefault(cfg.Interval, 100*time.Millisecond), orDefault(cfg.Linger, 5*time.Second)
	linger = max(linger, 3*interval) // the friend's next round of pings must still be answered
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	s := &session{nonce: slices.Clone(cfg.Nonce), events: make(chan punchEvent, 64)}
	id := SessionID(cfg.Nonce)
	m.mu.Lock()
	for k, old := range m.sessions {
		if !old.until.IsZero() && time.Now().After(old.until) {
			delete(m.sessions, k)
		}
	}
	m.sessions[id] = s
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		s.until = time.Now().Add(linger)
		m.mu.Unlock()
	}()

	var candidates []netip.AddrPort
	for _, c := range cfg.Candidates {
		if c = unmap(c); c.IsValid() && !slices.Contains(candidates, c) {
			candidates = append(candidates, c)
		}
	}
	targets := slices.Clone(candidates)
	sent := map[[8]byte]time.Time{}
	heard := map[netip.AddrPort]bool{} // addresses a valid ping came from
	ping := func(to netip.AddrPort, ttl int) {
		p := Packet{Kind: Ping}
		_, _ = rand.Read(p.Tx[:])
		p.Sign(s.nonce)
		sent[p.Tx] = time.Now()
		var err error
		if ttl > 0 {
			err = m.WriteTTL(p.Marshal(), to, ttl)
		} else {
			_, err = m.conn.WriteToUDPAddrPort(p.Marshal(), to)
		}
		if err != nil {
			m.log.Debug("nat: punch", "to", to, "ttl", ttl, "err", err)
		}
	}
	var escalate <-chan time.Time
	if cfg.OpenerTTL > 0 && cfg.Escalate > 0 {
		t := time.NewTimer(cfg.Escalate)
		defer t.Stop()
		escalate = t.C
	}
	full := cfg.OpenerTTL <= 0
	round := func() {
		for _, t := range targets {
			if full || heard[t] {
				ping(t, 0)
			}
		}
	}
	if !full {
		for _, t := range targets {
			ping(t, cfg.OpenerTTL)
		}
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	// v4 is an IPv4 path that answered while an IPv6 one may still (PreferIPv6);
	// grace ends the wait for it.
	var v4 *Path
	var grace <-chan time.Time
	// The spray starts after Spray.After (sprayStart), then goes on every Spray.Every
	// (sprayTick) until the ports run out or one answers.
	var sprayStart, sprayTick <-chan time.Time
	var sprayTicker *time.Ticker
	var ports []uint16
	if sp := cfg.Spray; sp.Count > 0 && sp.Addr.IsValid() {
		ports = sprayPorts(sp.Count)
		start := time.NewTimer(sp.After)
		defer start.Stop()
		sprayStart = start.C
	}
	spray := func() {
		burst := cfg.Spray.Burst
		if burst <= 0 {
			burst = 20
		}
		for i := 0; i < burst && len(ports) > 0; i++ {
			ping(netip.AddrPortFrom(cfg.Spray.Addr.Unmap(), ports[0]), 0)
			ports = ports[1:]
		}
	}
	round()
	if cfg.Opened != nil {
		cfg.Opened()
	}
	for {
		select {
		case <-grace:
			return *v4, nil
		case <-ctx.Done():
			if v4 != nil {
				return *v4, nil
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return Path{}, fmt.Errorf("%w: tried %v for %v", ErrNoPath, targets, timeout)
			}
			return Path{}, fmt.Errorf("nat: punch: %w", ctx.Err())
		case <-m.done:
			return Path{}, fmt.Errorf("nat: punch: %w", net.ErrClosed)
		case ev := <-s.events:
			// An if per rule, not a tagless switch, so that gremlins can see them tested.
			if ev.kind == Pong && !sent[ev.tx].IsZero() {
				p := Path{Local: m.LocalAddr(), Remote: ev.from, PeerReflexive: !slices.Contains(candidates, ev.from),
					RTT: ev.at.Sub(sent[ev.tx])}
				if !cfg.PreferIPv6 || !ev.from.Addr().Is4() || !slices.ContainsFunc(targets, is6) {
					return p, nil
				}
				if v4 == nil {
					v4 = &p
					t := time.NewTimer(2 * interval)
					defer t.Stop()
					grace = t.C
				}
			}
			if ev.kind == Ping && !heard[ev.from] {
				// The friend's ping came through: our side may now ping it at full
				// TTL. An address no candidate names is peer-reflexive (the friend's
				// NAT mapped its pings to a new port); answering alone may not open
				// our NAT.
				heard[ev.from] = true
				if !slices.Contains(targets, ev.from) {
					targets = append(targets, ev.from)
				}
				ping(ev.from, 0)
			}
		case <-escalate:
			full = true
			round()
		case <-sprayStart:
			sprayTicker = time.NewTicker(orDefault(cfg.Spray.Every, 10*time.Millisecond))
			defer sprayTicker.Stop()
			sprayTick = sprayTicker.C
			spray()
		case <-sprayTick:
			spray()
			if len(ports) == 0 {
				sprayTicker.Stop()
			}
		case <-tick.C:
			round()
		}
	}
}

// handlePunch answers a verified ping of a known session with a pong and tells the
// session about pings and pongs. Unknown sessions, bad tags and keepalives are dropped.
func (m *Mux) handlePunch(b []byte, from netip.AddrPort) {
	p, err := ParsePacket(b)
	if err != nil || p.Kind == KeepaliveKind {
		return
	}
	m.mu.Lock()
	s := m.sessions[p.Session]
	if s != nil && !s.until.IsZero() && time.Now().After(s.until) {
		delete(m.sessions, p.Session)
		s = nil
	}
	m.mu.Unlock()
	if s == nil || !p.Verify(s.nonce) {
		m.log.Debug("nat: dropped punch packet", "from", from)
		return
	}
	if p.Kind == Ping {
		pong := Packet{Kind: Pong, Tx: p.Tx}
		pong.Sign(s.nonce)
		if _, err := m.conn.WriteToUDPAddrPort(pong.Marshal(), from); err != nil {
			m.log.Debug("nat: pong", "to", from, "err", err)
		}
	}
	select {
	case s.events <- punchEvent{kind: p.Kind, tx: p.Tx, from: from, at: time.Now()}:
	default:
	}
}

func is6(a netip.AddrPort) bool { return a.Addr().Is6() && !a.Addr().Is4In6() }

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
