package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/discovery"
	"github.com/kithnet/kith/peer/nat"
	"github.com/kithnet/kith/peer/store"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/shared/identity"
)

// client finds a path to a friend known by ID: a route proved earlier, else a signed
// offer through the rendezvous and punching on both ends at once, else a TURN relay.
// Every path is proved by a QUIC handshake that checks the friend's key.
func (t *traversal) client(ctx context.Context, f store.Friend) (*grpc.ClientConn, error) {
	if r, ok := t.known(f.Key); ok {
		if cc, err := t.dialKnown(ctx, f, r); err == nil {
			return cc, nil
		}
	}
	start := time.Now()
	nonce, cands, observed, err := t.offer(ctx, f.Key)
	if status.Code(err) == codes.NotFound {
		// The rendezvous names the missing record by fingerprint, a hash the person has
		// never seen: say who, and what it means.
		return nil, fmt.Errorf("%s is not online at the rendezvous now (their node is off, or has not registered there)", friendName(f))
	}
	if err != nil {
		return nil, fmt.Errorf("%s through the rendezvous: %w", friendName(f), err)
	}
	path, err := nat.Path{}, nat.ErrNoPath
	if t.cfg.PunchTimeout > 0 {
		path, err = t.cfg.Mux.Punch(ctx, nat.PunchConfig{Nonce: nonce, Candidates: cands, Timeout: t.cfg.PunchTimeout})
	}
	if err == nil {
		addr := net.UDPAddrFromAddrPort(path.Remote)
		c, err := t.node.tr.Dial(ctx, addr, f.Key)
		if err == nil {
			t.remember(f.Key, route{tr: t.node.tr, addr: addr})
			t.log.Info("connected", "friend", f.Key.ID(), "path", "direct", "remote", addr, "peer_reflexive", path.PeerReflexive,
				"elapsed_ms", time.Since(start).Milliseconds())
			return clientOn(t.node.tr, addr, f.Key, c)
		}
		t.log.Info("punched, but QUIC did not follow; trying a relay", "friend", f.Key.ID(), "remote", addr, "err", err)
	} else if !errors.Is(err, nat.ErrNoPath) {
		return nil, err
	}
	if r, ok := t.known(f.Key); ok && !r.relay {
		// Our punch found nothing, but the friend reached us meanwhile (it answered
		// an offer we sent before it had added us, or it connected itself).
		if cc, err := t.dialKnown(ctx, f, r); err == nil {
			return cc, nil
		}
	}
	rctx, cancel := context.WithTimeout(ctx, t.cfg.RelayTimeout)
	defer cancel()
	r, addr, c, err := t.relay(rctx, f.Key, append(cands, observed...))
	if errors.Is(err, errDirectAppeared) {
		return t.client(ctx, f)
	}
	if err != nil {
		return nil, fmt.Errorf("friend %s: no direct path (%v candidates) and no relay: %w", f.Key.Short(), cands, err)
	}
	t.remember(f.Key, route{tr: r.tr, addr: addr, relay: true})
	t.log.Info("connected", "friend", f.Key.ID(), "path", "relay", "relay", r.relay.Addr, "remote", addr,
		"elapsed_ms", time.Since(start).Milliseconds())
	return clientOn(r.tr, addr, f.Key, c)
}

// relayed reports whether the friend's current route runs through a relay.
func (t *traversal) relayed(k identity.PublicKey) bool {
	r, ok := t.known(k)
	return ok && r.relay
}

// upgrade punches towards a friend reached through a relay every UpgradeEvery until a
// direct path is proved by a QUIC handshake (and remembered), or the friend proved one
// (an offer we answered), and then reports true; false when ctx ends first.
func (t *traversal) upgrade(ctx context.Context, f store.Friend) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(t.cfg.UpgradeEvery):
		}
		if !t.relayed(f.Key) {
			return true
		}
		nonce, cands, _, err := t.offer(ctx, f.Key)
		if err != nil {
			continue
		}
		path, err := t.cfg.Mux.Punch(ctx, nat.PunchConfig{Nonce: nonce, Candidates: cands, Timeout: max(t.cfg.PunchTimeout, 2*time.Second)})
		if err != nil {
			continue
		}
		addr := net.UDPAddrFromAddrPort(path.Remote)
		dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		c, err := t.node.tr.Dial(dctx, addr, f.Key)
		cancel()
		if err != nil {
			continue
		}
		c.Close()
		t.remember(f.Key, route{tr: t.node.tr, addr: addr})
		return true
	}
}

// dialKnown dials a route proved earlier, forgetting it when it no longer works.
func (t *traversal) dialKnown(ctx context.Context, f store.Friend, r route) (*grpc.ClientConn, error) {
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	c, err := r.tr.Dial(dctx, r.addr, f.Key)
	cancel()
	if err != nil {
		t.forget(f.Key, r)
		t.log.Info("a known path to a friend stopped working; looking again", "friend", f.Key.ID(), "remote", r.addr, "err", err)
		return nil, err
	}
	return clientOn(r.tr, r.addr, f.Key, c)
}

// onOffer answers a verified offer from the Listen stream: punch towards the caller's
// candidates (answering any address its pings come from), or, for a relay offer, ping
// the caller's relay so our NAT lets the relay in and the caller learns where we are.
func (t *traversal) onOffer(o discovery.Offer) {
	offer := o.Offer
	switch offer.GetKind() {
	case rendezvousv1.OfferKind_OFFER_KIND_ANSWER:
		t.answered(o)
		return
	case rendezvousv1.OfferKind_OFFER_KIND_FRIEND_REQUEST: // issue 18: requests.go
		t.node.takeFriendRequest(o.From, offer.GetFriendRequest())
		return
	case rendezvousv1.OfferKind_OFFER_KIND_CONNECT, rendezvousv1.OfferKind_OFFER_KIND_RELAY:
	default:
		t.log.Info("ignored an offer of a kind this node does not answer", "from", o.From.ID(), "kind", offer.GetKind())
		return
	}
	_, err := t.node.st.Friend(o.From)
	friend := err == nil
	if !friend && !t.answerStranger() {
		t.log.Info("ignored an offer from a stranger (no published addresses or nothing public here, or too many strangers this minute)", "from", o.From.ID())
		return
	}
	if friend && offer.GetKind() == rendezvousv1.OfferKind_OFFER_KIND_CONNECT {
		t.spawn(func(ctx context.Context) { t.answer(ctx, o.From, offer.GetPunchSecret()) })
	}
	t.spawn(func(ctx context.Context) {
		relay := offer.GetKind() == rendezvousv1.OfferKind_OFFER_KIND_RELAY
		targets := addrs(offer.GetCandidates(), rendezvousv1.CandidateType_CANDIDATE_TYPE_HOST, rendezvousv1.CandidateType_CANDIDATE_TYPE_SERVER_REFLEXIVE)
		timeout := max(t.cfg.PunchTimeout, time.Second)
		if relay {
			targets = addrs(offer.GetCandidates(), rendezvousv1.CandidateType_CANDIDATE_TYPE_RELAY)
			timeout = t.cfg.RelayTimeout
		}
		path, err := t.cfg.Mux.Punch(ctx, nat.PunchConfig{Nonce: offer.GetPunchSecret(), Candidates: targets, Timeout: timeout})
		if err != nil {
			t.log.Info("answering an offer found no path", "friend", o.From.ID(), "relay", relay, "err", err)
			return
		}
		t.remember(o.From, route{tr: t.node.tr, addr: net.UDPAddrFromAddrPort(path.Remote), relay: relay})
		t.log.Info("answered an offer", "friend", o.From.ID(), "relay", relay, "remote", path.Remote, "peer_reflexive", path.PeerReflexive)
		t.node.Wake()
	})
}

// friendName names a friend for a person: "Bob (ID)", or the ID alone.
func friendName(f store.Friend) string {
	if f.Name == "" {
		return string(f.Key.ID())
	}
	return f.Name + " (" + string(f.Key.ID()) + ")"
}
