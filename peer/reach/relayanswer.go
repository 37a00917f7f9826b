package reach

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/kithnet/kith/peer/discovery"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Between two endpoint-dependent NATs only a relay carries QUIC. The caller's own
// relay costs, after the ANSWER, a RELAY offer across the rendezvous and the friend's
// ping back through the relay before QUIC can start: the friend's mapping towards the
// relay is unknown until it sends. The callee's relay does not: a TURN permission is
// per IP, so the callee lets the caller's IP in and the caller's first QUIC Initial,
// from its own socket, goes through whatever port its NAT picks (issue 20, stop 21).
//
// So a callee that answers a friend's CONNECT when both NATs map endpoint-dependently
// also allocates (the rendezvous granted it when it handed over the offer:
// rendezvous/server grantListener), lets the caller's addresses in and sends its relay
// address in an OFFER_KIND_RELAY_ANSWER with the CONNECT's punch secret. The caller's
// find dials QUIC there beside its other ways; the first handshake wins. Callee first
// holds: the caller sends nothing before this answer of the callee's, and the callee's
// relay reaches only the caller's IPs. A relay answer that no find of ours waits for is
// dropped, and the callee releases an allocation that nobody used once its wait is over.

// relayAnswerWaiter is a find waiting for the callee's relay address.
type relayAnswerWaiter struct {
	from identity.PublicKey // the person offered to
	ch   chan netip.AddrPort
}

// expectRelayAnswer registers a find towards k with punch secret secret as waiting for
// k's relay answer; done unregisters it.
func (a *Agent) expectRelayAnswer(secret []byte, k identity.PublicKey) (<-chan netip.AddrPort, func()) {
	ch := make(chan netip.AddrPort, 1)
	a.mu.Lock()
	a.relayAnswers[string(secret)] = relayAnswerWaiter{from: k, ch: ch}
	a.mu.Unlock()
	return ch, func() {
		a.mu.Lock()
		delete(a.relayAnswers, string(secret))
		a.mu.Unlock()
	}
}

// relayAnswered hands a friend's relay answer to the find that waits for it: only one
// whose secret matches, offered to the person who signed it, with a relay address.
func (a *Agent) relayAnswered(o discovery.Offer) {
	a.mu.Lock()
	w, ok := a.relayAnswers[string(o.Offer.GetPunchSecret())]
	a.mu.Unlock()
	relays := addrs(o.Offer.GetCandidates(), rendezvousv1.CandidateType_CANDIDATE_TYPE_RELAY)
	if !ok || w.from != o.Person || len(relays) == 0 {
		a.log.Debug("ignored a relay answer nobody waits for", "from", o.From.ID())
		return
	}
	select {
	case w.ch <- relays[0]:
	default:
	}
}

// answersWithRelay reports whether an offer from o's sender, which we answer, gets our
// relay too: from a friend (never a stranger, nor one of our own devices, which reach
// each other their own way), when both NATs map endpoint-dependently.
func (a *Agent) answersWithRelay(o discovery.Offer) bool {
	const ed = rendezvousv1.Mapping_MAPPING_ENDPOINT_DEPENDENT
	return a.disc != nil && o.Person != a.person && a.friendly(o.Person) &&
		o.Offer.GetMapping() == ed && a.mapping() == ed
}

// relayAnswer allocates (or takes the node's allocation), lets the caller of o in and
// sends it our relay address. The allocation is kept while the caller may still come
// (RelayTimeout), then released unless something uses it.
func (a *Agent) relayAnswer(ctx context.Context, o discovery.Offer) {
	// Counted on the allocation from the moment it is taken (under relayMu, as
	// releaseIdle decides) until the caller's wait is over: an earlier relay answer's
	// end must not release it under this one.
	r, _, err := a.ensureRelayWith(ctx, nil, nil, func(r *relayed) {
		r.mu.Lock()
		r.offered++
		r.mu.Unlock()
	})
	if err != nil {
		a.log.Info("no relay to answer a friend's offer with", "friend", o.Person.ID(), "err", err)
		return
	}
	permits := addrs(o.Offer.GetCandidates(), directTypes...)
	if ap, err := netip.ParseAddrPort(o.Observed); err == nil {
		permits = append(permits, unmapped(ap))
	}
	// The permissions and the relay answer go at once: the caller's Initial reaches the
	// relay after the answer crossed the rendezvous to it, later than the permission
	// request (QUIC resends an Initial that came too early).
	permitted := make(chan struct{})
	go func() { defer close(permitted); permit(r, permits) }()
	err = a.reply(ctx, o, rendezvousv1.OfferKind_OFFER_KIND_RELAY_ANSWER, []*rendezvousv1.Candidate{r.candidate()}, o.Offer.GetPunchSecret())
	<-permitted
	if err != nil {
		a.log.Info("could not send a friend our relay", "friend", o.Person.ID(), "err", err)
	} else {
		a.log.Debug("sent a friend our relay", "friend", o.Person.ID(), "relay", r.relay.Addr)
	}
	select {
	case <-ctx.Done():
	case <-time.After(a.cfg.RelayTimeout):
	}
	r.mu.Lock()
	r.offered--
	r.mu.Unlock()
	a.releaseIdle(r)
}

// viaRelayAnswer waits for the callee's relay address and dials QUIC there from our
// own socket.
func (a *Agent) viaRelayAnswer(ctx context.Context, k identity.PublicKey, relay <-chan netip.AddrPort) attempt {
	select {
	case addr := <-relay:
		stage(ctx, "relay answer received")
		p := &path{tr: a.cfg.Transport, addr: net.UDPAddrFromAddrPort(addr), kind: Relayed}
		q, c, err := a.dialQUIC(ctx, k, p)
		if err != nil {
			return attempt{err: fmt.Errorf("QUIC through the friend's relay %s: %w", addr, err)}
		}
		return attempt{p: q, c: c, how: "relay-answer"}
	case <-ctx.Done():
		return attempt{err: fmt.Errorf("no relay answer: %w", errors.Join(ctx.Err(), errNoRelayAnswer))}
	}
}

// errNoRelayAnswer ends a wait for a relay answer that did not come.
var errNoRelayAnswer = errors.New("the friend sent no relay of its own")
