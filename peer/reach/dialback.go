package reach

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/kithnet/kith/peer/discovery"
	"github.com/kithnet/kith/peer/nat"
	"github.com/kithnet/kith/peer/transport"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/shared/identity"
)

// The dial-back (issue 20, docs/DESIGN.md "The callee dials back"). Callee first puts
// the offer and the ANSWER, a round trip each through the rendezvous, before the
// caller's QUIC handshake, a third. When the caller knows where it last reached a
// friend directly, it first sends low-TTL openers there (they open its own NATs and
// die before the friend's router) and says so in its CONNECT (opened_towards). The
// friend, when that is still its own address and both NATs map endpoint-
// independently, dials QUIC at the caller's candidates as it answers: its Initial
// finds the caller's NAT open, so the caller holds a connection half a round trip
// after the ANSWER would have reached it, where its own dial would only start.
//
// Callee first holds: the caller's openers reach no router but its own, and the
// callee's Initial goes out (first, beside its openers and its ANSWER) only towards a
// NAT the caller has opened for exactly the address it comes from (when the friend
// moved, it does not dial back).

// backDialWait bounds the callee's dial-back, and how long after the ANSWER's deadline
// the caller still waits for it.
const backDialWait = 3 * time.Second

// openTowards prepares a find to k for a dial-back: when k is a friend (its identity,
// not one of our devices), we speak as our identity (not as a device), our NAT maps
// endpoint-independently and k has a last direct address, it sends an opener there
// from the node's socket and registers the find as waiting for k's dial-back. It returns the address opened (zero when none) and the
// channel the dial-back comes on; done unregisters it and closes a dial-back nobody
// took. One find per key waits at a time.
func (a *Agent) openTowards(k identity.PublicKey, secret []byte) (opened netip.AddrPort, back <-chan *transport.Conn, done func()) {
	done = func() {}
	// A device key is never dialled back (dialsBack): its openers would be for nothing.
	if a.disc == nil || a.cfg.DeviceCertificate != nil || k == a.person || !a.cfg.Book.IsFriend(k) ||
		a.mapping() != rendezvousv1.Mapping_MAPPING_ENDPOINT_INDEPENDENT {
		return netip.AddrPort{}, nil, done
	}
	last, ok := a.cfg.Book.LastPath(k)
	if !ok {
		return netip.AddrPort{}, nil, done
	}
	ch := make(chan *transport.Conn, 1)
	a.mu.Lock()
	if _, busy := a.backs[k]; busy {
		a.mu.Unlock()
		return netip.AddrPort{}, nil, done
	}
	a.backs[k] = ch
	a.mu.Unlock()
	done = func() {
		a.mu.Lock()
		if a.backs[k] == ch {
			delete(a.backs, k)
		}
		a.mu.Unlock()
		select { // dialledBack sends under a.mu: nothing comes after this
		case c := <-ch:
			c.Close()
		default:
		}
	}
	p := nat.Packet{Kind: nat.Ping}
	p.Sign(secret)
	if err := a.cfg.Mux.WriteTTL(p.Marshal(), last, a.openerTTL()); err != nil {
		a.log.Debug("could not send an opener towards a friend's last address", "friend", k.ID(), "addr", last, "err", err)
		done()
		return netip.AddrPort{}, nil, func() {}
	}
	return last, ch, done
}

// dialledBack takes a connection a peer dialled back (Transport.OnDialBack) for the
// find waiting for it; false when none waits (the transport closes it then).
func (a *Agent) dialledBack(c *transport.Conn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	ch, ok := a.backs[c.PeerKey()]
	if !ok || c.DeviceKey() != c.PeerKey() {
		return false
	}
	select {
	case ch <- c:
		return true
	default:
		return false
	}
}

// awaitBack waits for the dial-back on back until ctx ends.
func (a *Agent) awaitBack(ctx context.Context, k identity.PublicKey, back <-chan *transport.Conn) attempt {
	select {
	case c := <-back:
		p := &path{tr: a.cfg.Transport, addr: c.RemoteAddr(), kind: Direct, proved: time.Now()}
		a.remember(k, p)
		return attempt{p: p, c: c, how: "dial-back"}
	case <-ctx.Done():
		return attempt{err: errors.New("the friend did not dial back")}
	}
}

// dialsBack decides whether to dial a caller back as we answer its offer o: a CONNECT
// from a friend's identity (not a stranger's, nor a device's, nor our own), whose
// openers went to an address of ours (opened_towards names one of our candidates), both
// NATs mapping endpoint-independently (our Initial then leaves from that address, and
// the caller's candidates name where its opener left from).
func (a *Agent) dialsBack(o discovery.Offer) bool {
	const ei = rendezvousv1.Mapping_MAPPING_ENDPOINT_INDEPENDENT
	offer := o.Offer
	if offer.GetKind() != rendezvousv1.OfferKind_OFFER_KIND_CONNECT || o.From != o.Person || o.Person == a.person ||
		!a.cfg.Book.IsFriend(o.Person) || offer.GetMapping() != ei || a.mapping() != ei {
		return false
	}
	opened, err := netip.ParseAddrPort(offer.GetOpenedTowards())
	if err != nil {
		return false
	}
	return slices.Contains(addrs(a.candidates(), directTypes...), unmapped(opened))
}

// dialBack dials QUIC at the caller's candidates (as eagerTargets picks them) from the
// node's socket, as a dial-back, and serves the sync API on the first connection made.
func (a *Agent) dialBack(ctx context.Context, o discovery.Offer) {
	targets := dialTargets(addrs(o.Offer.GetCandidates(), directTypes...))
	if len(targets) == 0 {
		return // an offer without candidates: nowhere to dial (first would report no error)
	}
	a.log.Info("dialling a friend back", "friend", o.Person.ID(), "opened_towards", o.Offer.GetOpenedTowards(), "targets", targets)
	ctx, cancel := context.WithTimeout(ctx, backDialWait)
	defer cancel()
	ways := make([]func() attempt, len(targets))
	for i, t := range targets {
		ways[i] = func() attempt {
			c, err := a.cfg.Transport.DialBack(ctx, net.UDPAddrFromAddrPort(t), o.Person)
			return attempt{c: c, err: err}
		}
	}
	at := first(ways)
	if at.err != nil {
		a.log.Debug("dialling a friend back failed", "friend", o.Person.ID(), "err", at.err)
		return
	}
	a.remember(o.Person, &path{tr: a.cfg.Transport, addr: at.c.RemoteAddr(), kind: Direct, proved: time.Now()})
	if err := a.cfg.Transport.Serve(at.c); err != nil {
		a.log.Debug("could not serve a dial-back", "friend", o.Person.ID(), "err", err)
		return
	}
	a.log.Info("dialled a friend back", "friend", o.Person.ID(), "remote", at.c.RemoteAddr())
}
