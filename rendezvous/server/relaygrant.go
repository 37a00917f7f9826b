package server

import (
	"context"
	"net/netip"
	"sync"

	"google.golang.org/protobuf/proto"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

// listenAddrs remembers the source address of each Listen stream this instance serves,
// so a Connect to that peer can grant relaying towards where it really is.
type listenAddrs struct {
	mu sync.Mutex
	by map[identity.Fingerprint]map[netip.Addr]int // guards by; streams per address
}

// track records fp listening from addr until the returned func is called.
func (l *listenAddrs) track(fp identity.Fingerprint, addr string) func() {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return func() {}
	}
	ip := ap.Addr().Unmap()
	l.mu.Lock()
	if l.by == nil {
		l.by = map[identity.Fingerprint]map[netip.Addr]int{}
	}
	if l.by[fp] == nil {
		l.by[fp] = map[netip.Addr]int{}
	}
	l.by[fp][ip]++
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.by[fp][ip]--; l.by[fp][ip] <= 0 {
			delete(l.by[fp], ip)
		}
		if len(l.by[fp]) == 0 {
			delete(l.by, fp)
		}
	}
}

func (l *listenAddrs) of(fp identity.Fingerprint) []netip.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []netip.Addr
	for ip := range l.by[fp] {
		out = append(out, ip)
	}
	return out
}

// grantRelay tells this instance's TURN server that the caller of ctx is connecting to
// target (whose signed record is rec): it may allocate, and relay towards the target's
// public candidate addresses, if it publishes any, and the source of its Listen stream
// here.
func (s *Server) grantRelay(ctx context.Context, target identity.Fingerprint, rec *signedv1.Envelope) {
	if s.cfg.TURNGrants == nil {
		return
	}
	caller, err := netip.ParseAddrPort(observed(ctx))
	if err != nil {
		return
	}
	peers := s.listens.of(target)
	var reg rendezvousv1.Registration
	if proto.Unmarshal(rec.GetPayload(), &reg) == nil {
		// Candidates are sealed for friends (reachability); only a peer that publishes
		// its addresses names them here. Otherwise its Listen source must do.
		for _, c := range reg.GetPublicCandidates() {
			if ap, err := netip.ParseAddrPort(c.GetAddress()); err == nil {
				peers = append(peers, ap.Addr())
			}
		}
	}
	s.cfg.TURNGrants.Grant(caller.Addr(), peers)
}

// grantListener tells this instance's TURN server that the peer listening on ctx's
// stream is being connected to from sender (the observed source of the offer it is
// handed): it may allocate, and relay towards sender's IP. A callee between two
// endpoint-dependent NATs answers with a relay of its own (OFFER_KIND_RELAY_ANSWER),
// and its allocation then serves a peer a registered peer is actually connecting to.
// A stranger's offers can make the listener's grants no larger than
// turn.Grants bounds per client; the listener allocates only when it chooses to.
func (s *Server) grantListener(ctx context.Context, sender string) {
	if s.cfg.TURNGrants == nil {
		return
	}
	listener, err := netip.ParseAddrPort(observed(ctx))
	if err != nil {
		return
	}
	from, err := netip.ParseAddrPort(sender)
	if err != nil {
		return
	}
	s.cfg.TURNGrants.Grant(listener.Addr(), []netip.Addr{from.Addr()})
}
