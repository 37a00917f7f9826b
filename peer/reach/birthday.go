package reach

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/kithnet/kith/peer/nat"
	"github.com/kithnet/kith/peer/transport"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
)

// The birthday method (docs/DESIGN.md, "Symmetric facing endpoint-independent"): a peer
// whose NAT maps every destination to a new random port (the hard side) opens
// spareCount sockets and sends from each a low-TTL opener towards the other peer's one
// public address; the other peer (the easy side, endpoint-independent) pings up to
// sprayCount random ports of the hard side's public IP. With M = nat.SprayRange ports, a
// probe misses every mapping with probability 1 - spareCount/M.
const (
	// spareCount is how many sockets the hard side opens.
	spareCount = 256
	// sprayCount is how many ports the easy side pings at most: 1,024 give 98.3%,
	// 2,048 give 99.97%; the spray stops at the first answer (on average after
	// M/spareCount = 252 probes).
	sprayCount = 2048
	// sprayAfterAnswer is how long an easy callee waits after its ANSWER before it
	// sprays: the hard caller opens its sockets when the ANSWER reaches it. An easy
	// caller sprays at once: the hard callee answers after its openers are out.
	sprayAfterAnswer = 500 * time.Millisecond
	// maxBirthdays bounds the hard side's attempts at once (each holds spareCount
	// sockets for a few seconds).
	maxBirthdays = 2
)

// role is a side's part in the birthday method.
type role int

const (
	// noBirthday: both sides map alike (or one is unknown): plain punching only.
	noBirthday role = iota
	// easySide maps endpoint-independently and faces a symmetric NAT: it sprays.
	easySide
	// hardSide maps endpoint-dependently and faces an endpoint-independent NAT: it
	// opens the spare sockets.
	hardSide
)

// String names the role as logs say it.
func (r role) String() string {
	switch r {
	case easySide:
		return "easy"
	case hardSide:
		return "hard"
	}
	return "none"
}

// birthdayRole is our part given our NAT's mapping and the peer's (from its offer or
// ANSWER). Two symmetric NATs have no direct path without port mapping: the relay.
func birthdayRole(own, peer rendezvousv1.Mapping) role {
	const (
		ei = rendezvousv1.Mapping_MAPPING_ENDPOINT_INDEPENDENT
		ed = rendezvousv1.Mapping_MAPPING_ENDPOINT_DEPENDENT
	)
	if own == ei && peer == ed {
		return easySide
	}
	if own == ed && peer == ei {
		return hardSide
	}
	return noBirthday
}

// birthday is what one punch needs of the birthday method.
type birthday struct {
	role role
	// spray is the hard peer's public IP (easy side): the IP the rendezvous saw its
	// signal come from, and only when one of its signed candidates names it too, so
	// neither the peer nor the rendezvous alone can aim the spray.
	spray netip.Addr
	// after delays the spray (an easy callee waits for the hard caller's sockets).
	after time.Duration
	// towards are the easy peer's public candidates (hard side): the spares' openers
	// go there.
	towards []netip.AddrPort
}

// birthdayFor decides the birthday part of a punch towards a friend whose offer or
// ANSWER said peerMapping, seen by the rendezvous at observed, with candidates cands.
func (a *Agent) birthdayFor(friend bool, peerMapping rendezvousv1.Mapping, observed string, cands []netip.AddrPort, callee bool) birthday {
	b := birthday{role: birthdayRole(a.mapping(), peerMapping)}
	if !friend {
		// A stranger's offer makes us send to addresses it chose: never thousands.
		return birthday{}
	}
	var public []netip.AddrPort
	for _, c := range cands {
		if c.Addr().Unmap().Is4() && !nat.Inside(c.Addr()) {
			public = append(public, c)
		}
	}
	switch b.role {
	case easySide:
		obs, err := netip.ParseAddrPort(observed)
		if err != nil || !slices.ContainsFunc(public, func(c netip.AddrPort) bool { return c.Addr() == obs.Addr().Unmap() }) {
			a.log.Info("birthday: the peer's NAT is symmetric, but no candidate of its names the address the rendezvous saw it at; not spraying", "observed", observed, "candidates", public)
			return birthday{}
		}
		b.spray = obs.Addr().Unmap()
		if callee {
			b.after = sprayAfterAnswer
		}
	case hardSide:
		if len(public) == 0 {
			return birthday{}
		}
		b.towards = public
	}
	return b
}

// mapping is how our NAT maps, as last measured; unspecified before.
func (a *Agent) mapping() rendezvousv1.Mapping {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mappingKind
}

// measureMapping binds from the node's socket to the rendezvous' second STUN port
// (when it offers one) and compares the mapped address with first, the one the first
// port saw: the same means an endpoint-independent mapping, another port a symmetric
// NAT. Once per pair of servers.
func (a *Agent) measureMapping(ctx context.Context, servers []netip.AddrPort, first netip.AddrPort) {
	if len(servers) < 2 {
		return
	}
	a.mu.Lock()
	done := a.mappingOf == servers[1]
	a.mu.Unlock()
	if done {
		return
	}
	bctx, cancel := context.WithTimeout(ctx, reflexiveWait)
	second, err := a.cfg.Mux.Binding(bctx, servers[1])
	cancel()
	if err != nil {
		a.log.Info("no answer from the second STUN port; the NAT's mapping stays unknown", "stun", servers[1], "err", err)
		return
	}
	m := mappingOf(first, second)
	a.mu.Lock()
	a.mappingKind, a.mappingOf = m, servers[1]
	a.mu.Unlock()
	select {
	case a.mappingKnown <- struct{}{}: // keepCreds looks again
	default:
	}
	a.log.Info("NAT mapping", "mapping", m, "first", first, "second", second)
}

// mappingOf names the mapping two bindings to different destinations saw.
func mappingOf(first, second netip.AddrPort) rendezvousv1.Mapping {
	if first == second {
		return rendezvousv1.Mapping_MAPPING_ENDPOINT_INDEPENDENT
	}
	return rendezvousv1.Mapping_MAPPING_ENDPOINT_DEPENDENT
}

// punchPath punches with pc on the node's socket and, per b, sprays (easy side) or
// opens the spare sockets beside it (hard side); the first path that answers wins.
func (a *Agent) punchPath(ctx context.Context, pc nat.PunchConfig, b birthday) (*path, error) {
	if b.role != noBirthday {
		a.log.Info("birthday method", "role", b.role, "spray", b.spray, "after", b.after, "towards", b.towards)
	}
	if b.role == easySide {
		pc.Spray = nat.Spray{Addr: b.spray, Count: sprayCount, After: b.after}
	}
	if b.role != hardSide {
		return a.mainPunch(ctx, pc)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		p   *path
		err error
	}
	main, spares := make(chan result, 1), make(chan result, 1)
	go func() { p, err := a.mainPunch(ctx, pc); main <- result{p, err} }()
	go func() { p, err := a.spares(ctx, pc.Nonce, b.towards, pc.Timeout); spares <- result{p, err} }()
	var errs []error
	for range 2 {
		var r result
		own := false
		select {
		case r = <-main:
			main, own = nil, true
		case r = <-spares:
			spares = nil
		}
		if r.err == nil {
			cancel()
			if spares != nil { // a spare that won meanwhile keeps its socket: drop it
				if late := <-spares; late.p != nil {
					a.closeSpareOf(late.p.tr)
				}
			}
			if own {
				// Our socket's mapping towards the easy peer is one more random port
				// among the spares': the spray can find it first (1 in spareCount+1).
				a.log.Info("birthday: the spray reached the listening socket", "remote", r.p.addr)
			}
			return r.p, nil
		}
		errs = append(errs, r.err)
	}
	return nil, errors.Join(errs...)
}

// mainPunch punches on the node's own socket.
func (a *Agent) mainPunch(ctx context.Context, pc nat.PunchConfig) (*path, error) {
	res, err := a.cfg.Mux.Punch(ctx, pc)
	if err != nil {
		return nil, err
	}
	kind := Direct
	if res.PeerReflexive {
		kind = PeerReflexive
	}
	return &path{tr: a.cfg.Transport, addr: net.UDPAddrFromAddrPort(res.Remote), kind: kind, rtt: res.RTT}, nil
}

// spare is the socket of the hard side that the easy side's spray found, kept with a
// transport of its own (dialling and serving the sync API) while connections use it.
type spare struct {
	mux *nat.Mux
	tr  *transport.Transport
}

// errBusy means the hard side already runs maxBirthdays attempts.
var errBusy = errors.New("reach: too many birthday attempts at once")

// spares is the hard side: it opens spareCount sockets, sends from each a low-TTL
// opener to towards (our NAT maps each socket to a new port; the openers die before
// the easy side's router), and waits (at most timeout) for the easy side's spray to
// reach one of them. That socket then gets a transport; the others are closed.
func (a *Agent) spares(ctx context.Context, nonce []byte, towards []netip.AddrPort, timeout time.Duration) (*path, error) {
	a.mu.Lock()
	if a.birthdays >= maxBirthdays {
		a.mu.Unlock()
		return nil, errBusy
	}
	a.birthdays++
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.birthdays--
		a.mu.Unlock()
	}()
	bind := &net.UDPAddr{IP: net.IPv4zero}
	if ip := a.cfg.Mux.LocalAddr().Addr(); ip.Is4() && !ip.IsUnspecified() {
		bind.IP = ip.AsSlice()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type hit struct {
		mux *nat.Mux
		res nat.Path
	}
	hits := make(chan hit, 1)
	var wg sync.WaitGroup
	var muxes []*nat.Mux
	ttl := a.openerTTL()
	for range spareCount {
		conn, err := net.ListenUDP("udp4", bind)
		if err != nil {
			break // out of sockets: try with what we have
		}
		m := nat.NewMux(conn, nat.MuxConfig{QueueLen: 64, Logger: a.log})
		muxes = append(muxes, m)
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := m.Punch(ctx, nat.PunchConfig{Nonce: nonce, Candidates: towards, Timeout: timeout,
				Interval: time.Second, OpenerTTL: ttl})
			if err == nil {
				select {
				case hits <- hit{m, res}:
				default:
				}
			}
		}()
	}
	if len(muxes) == 0 {
		return nil, errors.New("reach: could not open any spare socket")
	}
	var won hit
	select {
	case won = <-hits:
	case <-ctx.Done():
	}
	cancel()
	wg.Wait()
	for _, m := range muxes {
		if m != won.mux {
			m.Close()
		}
	}
	if won.mux == nil {
		return nil, fmt.Errorf("%w: no spray reached any of %d spare sockets", nat.ErrNoPath, len(muxes))
	}
	sp, err := a.keepSpare(won.mux)
	if err != nil {
		won.mux.Close()
		return nil, err
	}
	a.log.Info("birthday: the spray reached a spare socket", "local", won.mux.LocalAddr(), "remote", won.res.Remote, "spares", len(muxes))
	return &path{tr: sp.tr, addr: net.UDPAddrFromAddrPort(won.res.Remote), kind: Direct, rtt: won.res.RTT}, nil
}

// keepSpare gives the winning spare socket a transport that dials and serves the sync
// API, and keeps it while connections use it.
func (a *Agent) keepSpare(m *nat.Mux) (*spare, error) {
	tr, err := transport.New(transport.Config{Key: a.cfg.Key, PacketConn: m.PacketConn(), Logger: a.log,
		KeepAlive: a.cfg.KeepAlive, IdleTimeout: max(30*time.Second, 3*a.cfg.KeepAlive), Limits: a.cfg.Limits,
		Revoked: a.cfg.Revoked})
	if err != nil {
		return nil, err
	}
	sp := &spare{mux: m, tr: tr}
	if a.cfg.Serve != nil {
		ln, err := tr.Listen()
		if err != nil {
			tr.Close()
			return nil, err
		}
		a.cfg.Serve(ln)
	}
	a.mu.Lock()
	a.spareSocks = append(a.spareSocks, sp)
	a.mu.Unlock()
	if !a.spawn(func(ctx context.Context) { a.watchSpare(ctx, sp) }) {
		a.closeSpare(sp)
		return nil, errStopped
	}
	return sp, nil
}

// watchSpare closes the spare once no connection has used it for two checks in a row
// (the first check comes after the connection had time to form).
func (a *Agent) watchSpare(ctx context.Context, sp *spare) {
	every := max(2*a.cfg.KeepAlive, 5*time.Second)
	idle := 0
	for idle < 2 {
		select {
		case <-ctx.Done():
			a.closeSpare(sp)
			return
		case <-time.After(every):
		}
		if len(sp.tr.Peers()) == 0 {
			idle++
		} else {
			idle = 0
		}
	}
	a.log.Info("birthday: a spare socket is idle; closing it", "local", sp.mux.LocalAddr())
	a.closeSpare(sp)
}

// closeSpareOf closes the spare whose transport is tr.
func (a *Agent) closeSpareOf(tr *transport.Transport) {
	a.mu.Lock()
	var sp *spare
	for _, s := range a.spareSocks {
		if s.tr == tr {
			sp = s
		}
	}
	a.mu.Unlock()
	if sp != nil {
		a.closeSpare(sp)
	}
}

// closeSpare forgets the paths through sp and closes it.
func (a *Agent) closeSpare(sp *spare) {
	a.mu.Lock()
	i := slices.Index(a.spareSocks, sp)
	if i < 0 {
		a.mu.Unlock()
		return
	}
	a.spareSocks = slices.Delete(a.spareSocks, i, i+1)
	for k, e := range a.endpoints {
		e.paths = slices.DeleteFunc(e.paths, func(p *path) bool { return p.tr == sp.tr })
		if len(e.paths) == 0 {
			delete(a.endpoints, k)
		}
	}
	a.mu.Unlock()
	sp.tr.Close()
	sp.mux.Close()
}

// closeSpares closes every spare socket (the agent stops).
func (a *Agent) closeSpares() {
	a.mu.Lock()
	all := slices.Clone(a.spareSocks)
	a.mu.Unlock()
	for _, sp := range all {
		a.closeSpare(sp)
	}
}

// sparePeers lists the connections on spare sockets; a.mu is held.
func (a *Agent) sparePeersLocked() []transport.Peer {
	var out []transport.Peer
	for _, sp := range a.spareSocks {
		out = append(out, sp.tr.Peers()...)
	}
	return out
}
