package reach

import (
	"context"
	"sync"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/shared/identity"
)

// relayPrep is the node's TURN allocation made during one find, beside the offer, so
// that it is ready when the peer's ANSWER comes (issue 20, stop 18). It fetches TURN
// credentials at once (in parallel with the CONNECT offer) and allocates as soon as
// the offer was delivered: the rendezvous lets a client allocate only after one of its
// Connects reached a listening peer (rendezvous/turn/grants.go). Since stop 20 the
// credentials are usually at hand (relaycreds.go) and the allocation starts at once,
// only its authenticated request waiting for the delivery (nat.TURNConfig.Gate).
//
// Nothing of it reaches the peer: the allocation is made at our own rendezvous, and
// permissions and the RELAY offer still wait for the ANSWER (callee first). An
// allocation a find made and did not use (the peer did not answer, or the direct path
// won) is released when the find ends, so a rendezvous holds a port per find in
// progress and per relayed connection, never one per online peer.
type relayPrep struct {
	granted chan struct{} // closed when our CONNECT offer was delivered
	once    sync.Once
	done    chan struct{} // closed when the allocation is made or failed
	cancel  context.CancelFunc
	r       *relayed // set before done closes: the allocation this prep made; nil if it found one or failed
}

// prepKey carries a find's relayPrep to offer, which says when the offer is delivered.
type prepKey struct{}

// prepares reports whether a find towards k starts the relay beside its offer: only
// towards a friend (or one of our devices: friendly), never a stranger (the crawler
// dials many; the relay there stays lazy), and only while our own NAT's mapping is not
// known yet. With an endpoint-independent mapping punching or the birthday method
// nearly always ends direct; with an endpoint-dependent one, a callee that needs a relay
// (endpoint-dependent too) answers with its own, which is faster than ours
// (relayanswer.go), and towards any other callee the punch or the birthday method
// nearly always ends direct: an allocation of ours would mostly be wasted. Our relay
// still follows the ANSWER lazily when everything else fails.
func (a *Agent) prepares(k identity.PublicKey) bool {
	return a.disc != nil && a.friendly(k) && a.mapping() == rendezvousv1.Mapping_MAPPING_UNSPECIFIED
}

// prepareRelay starts, when prepares(k) says so, the node's TURN allocation beside the
// find's offer, and returns ctx carrying it for offer (relayGranted). nil: no prep.
func (a *Agent) prepareRelay(ctx context.Context, k identity.PublicKey) (context.Context, *relayPrep) {
	if !a.prepares(k) {
		return ctx, nil
	}
	a.mu.Lock()
	have := a.relay != nil
	a.mu.Unlock()
	if have {
		return ctx, nil
	}
	p := &relayPrep{granted: make(chan struct{}), done: make(chan struct{})}
	pctx, cancel := context.WithTimeout(ctx, a.cfg.RelayTimeout)
	p.cancel = cancel
	if !a.spawn(func(run context.Context) {
		defer close(p.done)
		defer context.AfterFunc(run, cancel)()
		p.r = a.allocateWhenGranted(pctx, p.granted)
	}) {
		cancel()
		return ctx, nil
	}
	return context.WithValue(ctx, prepKey{}, p), p
}

// allocateWhenGranted allocates at once with the credentials the node holds (or
// fetches), its authenticated Allocate held until granted closes (our offer was
// delivered: nat.TURNConfig.Gate), so the unauthenticated round trip goes beside the
// offer. It returns the allocation when it made it.
func (a *Agent) allocateWhenGranted(ctx context.Context, granted <-chan struct{}) *relayed {
	creds, err := a.turnCreds(ctx)
	if err != nil {
		a.log.Debug("TURN credentials for an early relay", "err", err)
		return nil
	}
	stage(ctx, "credentials ready")
	r, made, err := a.ensureRelayWith(ctx, creds, granted, nil)
	if err != nil {
		a.log.Debug("early relay allocation failed; the relay attempt will try again", "err", err)
		return nil
	}
	if !made {
		return nil
	}
	return r
}

// relayGranted tells the find of ctx, if it prepares a relay, that its offer was
// delivered: the rendezvous now lets us allocate.
func relayGranted(ctx context.Context) {
	if p, ok := ctx.Value(prepKey{}).(*relayPrep); ok {
		p.once.Do(func() { close(p.granted) })
	}
}

// finishPrep ends the prep after its find: an allocation the prep made is released
// unless something uses it (releaseIdle: the connection the find ended on through it,
// another friend's, an attempt). Safe on nil.
func (a *Agent) finishPrep(p *relayPrep) {
	if p == nil {
		return
	}
	p.cancel()
	<-p.done
	if p.r != nil {
		a.releaseIdle(p.r)
	}
}

// releaseIdle drops r when it is still the node's allocation and carries no
// connection, no attempt and no relay answer whose caller may still come. It decides
// under relayMu, which an attempt holds while it takes the allocation and registers
// itself on it (ensureRelayWith's hold).
func (a *Agent) releaseIdle(r *relayed) {
	a.relayMu.Lock()
	a.mu.Lock()
	current := a.relay == r
	a.mu.Unlock()
	if !current || r.busy() || len(r.tr.Peers()) > 0 {
		a.relayMu.Unlock()
		return
	}
	a.mu.Lock()
	a.relay = nil
	a.mu.Unlock()
	a.relayMu.Unlock()
	a.log.Debug("released a TURN allocation its find did not use", "relay", r.relay.Addr)
	r.close()
	a.disc.Refresh()
	a.wakePrimer()
}
