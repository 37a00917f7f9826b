package reach

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/kithnet/kith/peer/discovery"
	"github.com/kithnet/kith/peer/nat"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/shared/identity"
)

// reflexiveWait bounds how long the first registration and an offer wait for the
// reflexive address (STUN): long enough for a binding over a slow link, short enough
// that a node whose STUN is blocked still registers and calls.
const reflexiveWait = 2 * time.Second

// stun learns the reflexive address from the rendezvous' STUN server, again every
// KeepAlive (which also holds the mapping open), and re-registers when it changes.
func (a *Agent) stun(ctx context.Context) {
	for {
		wait := 200 * time.Millisecond // until the first answer: the registration waits for it
		if server, ok := a.stunServer(); ok {
			bctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			addr, err := a.cfg.Mux.Binding(bctx, server)
			cancel()
			if err == nil {
				a.setReflexive(addr, server)
				a.measureDepth(ctx, server)
				a.measureMapping(ctx, a.stunServers(), addr)
			} else if ctx.Err() == nil {
				a.log.Warn("STUN binding failed", "stun", server, "err", err)
			}
			a.mu.Lock()
			known := a.reflexAddr.IsValid()
			a.mu.Unlock()
			if known {
				wait = a.cfg.KeepAlive
			} else {
				wait = time.Second
			}
		}
		a.refreshReach()
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// setReflexive keeps a new reflexive address and registers again when it changed.
func (a *Agent) setReflexive(addr, server netip.AddrPort) {
	a.mu.Lock()
	changed := addr != a.reflexAddr
	first := !a.reflexAddr.IsValid()
	a.reflexAddr = addr
	if first {
		close(a.reflexive)
	}
	a.mu.Unlock()
	if changed {
		a.log.Info("reflexive address", "addr", addr, "stun", server)
		a.disc.Refresh()
	}
}

// measureDepth counts the hops inside our own NATs on the way to server, once per
// server (the network behind a new STUN server may be another).
func (a *Agent) measureDepth(ctx context.Context, server netip.AddrPort) {
	a.mu.Lock()
	done := a.depthOf == server
	a.mu.Unlock()
	if done || !server.Addr().Unmap().Is4() {
		return
	}
	d, err := nat.NATDepth(ctx, server, 6)
	if err != nil {
		a.log.Info("could not count the hops inside our NATs; openers use the default TTL", "err", err)
		d = -1
	}
	a.mu.Lock()
	a.depth, a.depthOf = d, server
	a.mu.Unlock()
	a.log.Info("hops inside our NATs", "depth", d, "opener_ttl", nat.OpenerTTL(max(d, 1)))
}

// openerTTL is the TTL of the callee's openers: enough to cross our own NATs, not
// enough to reach the far router. Before a measurement, one NAT is assumed.
func (a *Agent) openerTTL() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return nat.OpenerTTL(max(a.depth, 1))
}

// waitReflexive waits at most d for the first reflexive address.
func (a *Agent) waitReflexive(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-a.reflexive:
	case <-t.C:
	case <-ctx.Done():
	}
}

// stunServer is the STUN server of the current registration, or, before the first
// registration, the one the rendezvous named in its ServerInfo.
func (a *Agent) stunServer() (netip.AddrPort, bool) {
	uris, server := a.stunURIs()
	addr, err := serviceAddr(uris, "stun:", discovery.Addr(server))
	return addr, err == nil
}

// stunServers are all the STUN servers stunServer picks from, in order.
func (a *Agent) stunServers() []netip.AddrPort {
	uris, server := a.stunURIs()
	return serviceAddrs(uris, "stun:", discovery.Addr(server))
}

// stunURIs are the stun: URIs of the current registration (or of the last ServerInfo)
// and the server that gave them.
func (a *Agent) stunURIs() ([]string, string) {
	st := a.disc.Status()
	uris, server := st.StunURIs, st.Server
	if len(uris) == 0 {
		a.mu.Lock()
		uris, server = a.infoStun, a.infoServer
		a.mu.Unlock()
	}
	return uris, server
}

// beforeRegister learns the reflexive address before a session's first registration
// (waiting at most reflexiveWait), so the first record, and the offers made right
// after the node starts, carry it.
func (a *Agent) beforeRegister(ctx context.Context, server string, stunURIs []string) {
	a.mu.Lock()
	a.infoStun, a.infoServer = stunURIs, server
	a.mu.Unlock()
	addr, err := serviceAddr(stunURIs, "stun:", discovery.Addr(server))
	if err != nil {
		return
	}
	bctx, cancel := context.WithTimeout(ctx, reflexiveWait)
	defer cancel()
	if r, err := a.cfg.Mux.Binding(bctx, addr); err == nil {
		a.setReflexive(r, addr)
		a.measureMapping(ctx, serviceAddrs(stunURIs, "stun:", discovery.Addr(server)), r)
	}
}

// candidates are the host addresses of the socket, the reflexive address, a port
// mapping and the relay address.
func (a *Agent) candidates() []*rendezvousv1.Candidate {
	local := a.cfg.Mux.LocalAddr()
	hosts := []netip.AddrPort{local}
	if local.Addr().IsUnspecified() {
		hosts, _ = nat.HostCandidates(local.Port())
	}
	var out []*rendezvousv1.Candidate
	for _, h := range hosts {
		out = append(out, &rendezvousv1.Candidate{Address: h.String(), Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_HOST})
	}
	a.mu.Lock()
	r, rs := a.reflexAddr, a.relay
	a.mu.Unlock()
	var tail []*rendezvousv1.Candidate
	if r.IsValid() && !slices.Contains(hosts, r) {
		tail = append(tail, &rendezvousv1.Candidate{Address: r.String(), Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_SERVER_REFLEXIVE})
	}
	if pm := a.cfg.PortMapper; pm != nil {
		if m, ok := pm.External(); ok && m != r && !slices.Contains(hosts, m) {
			tail = append(tail, &rendezvousv1.Candidate{Address: m.String(), Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_PORT_MAPPED})
		}
	}
	if rs != nil { // informative: a friend reaches it only after a RELAY offer permits it
		tail = append(tail, &rendezvousv1.Candidate{Address: rs.relay.Addr.String(), Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_RELAY})
	}
	out = out[:min(len(out), 16-len(tail))] // the rendezvous takes 16
	return append(out, tail...)
}

// directTypes are the candidate types a punch aims at.
var directTypes = []rendezvousv1.CandidateType{rendezvousv1.CandidateType_CANDIDATE_TYPE_HOST,
	rendezvousv1.CandidateType_CANDIDATE_TYPE_SERVER_REFLEXIVE, rendezvousv1.CandidateType_CANDIDATE_TYPE_PORT_MAPPED,
	rendezvousv1.CandidateType_CANDIDATE_TYPE_OBSERVED_SOURCE}

// addrs parses candidates of the given types (all when none given).
func addrs(cands []*rendezvousv1.Candidate, types ...rendezvousv1.CandidateType) []netip.AddrPort {
	var out []netip.AddrPort
	for _, c := range cands {
		if len(types) > 0 && !slices.Contains(types, c.GetType()) {
			continue
		}
		if a, err := netip.ParseAddrPort(c.GetAddress()); err == nil && !slices.Contains(out, unmapped(a)) {
			out = append(out, unmapped(a))
		}
	}
	return out
}

func unmapped(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }

// serviceAddr is the address of the first usable URI with the scheme ("stun:" or
// "turn:"); a loopback or unspecified host there means the rendezvous' own host.
func serviceAddr(uris []string, scheme, rendezvous string) (netip.AddrPort, error) {
	if all := serviceAddrs(uris, scheme, rendezvous); len(all) > 0 {
		return all[0], nil
	}
	return netip.AddrPort{}, fmt.Errorf("the rendezvous offers no usable %s URI (%v)", strings.TrimSuffix(scheme, ":"), uris)
}

// serviceAddrs are the addresses of every usable URI with the scheme, in order.
func serviceAddrs(uris []string, scheme, rendezvous string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, u := range uris {
		hp, _, _ := strings.Cut(strings.TrimPrefix(u, scheme), "?")
		host, port, err := net.SplitHostPort(hp)
		if err != nil || !strings.HasPrefix(u, scheme) {
			continue
		}
		if ip, err := netip.ParseAddr(host); err == nil && (ip.IsLoopback() || ip.IsUnspecified()) {
			if rh, _, err := net.SplitHostPort(rendezvous); err == nil {
				if rip, err := netip.ParseAddr(rh); err == nil && !rip.IsLoopback() {
					host = rh
				}
			}
		}
		a, err := net.ResolveUDPAddr("udp", net.JoinHostPort(host, port))
		if err == nil {
			out = append(out, unmapped(a.AddrPort()))
		}
	}
	return out
}

// reachState is what the registration carries that can change without the candidates
// changing: the reachability key (rotated when a friend is removed) and whether the
// candidates are published in plain.
type reachState struct {
	key    string
	public bool
}

// reachKey is the person's current reachability key, for discovery to seal with.
func (a *Agent) reachKey() []byte {
	k, err := a.cfg.Book.ReachKey()
	if err != nil {
		a.log.Warn("no reachability key: registering without candidates for friends", "err", err)
		return nil
	}
	return k
}

// publishes reports whether the candidates go in plain into the registration: only when
// the person asked for it (--publish-addresses) and has something public to show.
func (a *Agent) publishes() bool { return a.cfg.PublishAddresses && a.cfg.Book.HasPublic() }

// Refresh registers again now when the registration's sealed or public part changed
// (after a friend was removed: the rotated key shuts the removed friend out at once).
func (a *Agent) Refresh() {
	if a != nil && a.disc != nil {
		a.refreshReach()
	}
}

// refreshReach registers again when the reachability key or the choice to publish
// changed since the last look (a friend was removed, a first public post was made).
func (a *Agent) refreshReach() {
	now := reachState{key: string(a.reachKey()), public: a.publishes()}
	a.mu.Lock()
	changed := now != a.reach
	a.reach = now
	a.mu.Unlock()
	if changed {
		a.disc.Refresh()
	}
}

// watchReach registers again when own posts change (a first public post makes the
// candidates public under --publish-addresses; the last one made private hides them).
func (a *Agent) watchReach(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.cfg.Book.Changed():
			a.refreshReach()
		}
	}
}

// peerCandidates are the addresses in peer's record that we may read: the public ones,
// and the sealed ones when peer gave us its current reachability key.
func (a *Agent) peerCandidates(peer identity.PublicKey, reg *rendezvousv1.Registration) []*rendezvousv1.Candidate {
	out := slices.Clone(reg.GetPublicCandidates())
	key, err := a.cfg.Book.FriendReachKey(peer)
	if err != nil || key == nil {
		return out
	}
	cs, err := discovery.OpenReachability(key, reg)
	if err != nil {
		a.log.Info("a friend's sealed candidates do not open with the key it gave us (rotated since?); asking it for an answer", "friend", peer.ID())
		return out
	}
	return append(out, cs...)
}
