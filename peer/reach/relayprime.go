package reach

import (
	"context"
	"sync"
	"time"

	"github.com/kithnet/kith/peer/nat"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
)

// A TURN allocation takes two round trips to the server: an Allocate without
// credentials, answered 401 with the realm and a nonce, then the authenticated one.
// The first asks nothing the server could refuse and leaves nothing there (the nonce is
// stateless), so a node that keeps credentials also keeps it done ahead: a primed
// allocation, its authenticated request held at a gate (nat.TURNConfig.Gate) until an
// allocation is needed. A callee answering with its relay (relayanswer.go) then has it
// one round trip after the offer arrived instead of two (issue 20, stop 21).
//
// The primed client diverts the TURN server's datagrams from the node's socket (as any
// TURN client here does), so one exists only while the node has no allocation: it is
// made under relayMu, and ensureRelayWith takes it (or drops it) before allocating.
// It is replaced after primeLife (the server's nonces live an hour), when the
// rendezvous in use changes, or when it failed.

// primeLife is how long a primed allocation waits for use before it is made afresh.
const primeLife = 20 * time.Minute

// primed is an allocation whose 401 round trip is done, its authenticated request
// held until open.
type primed struct {
	server string                                // the rendezvous whose TURN server it is on
	creds  *rendezvousv1.TurnCredentialsResponse // what it allocates with
	gate   chan struct{}
	once   sync.Once
	cancel context.CancelFunc
	done   chan struct{} // closed when the allocation is made or failed
	rl     *nat.Relay    // set before done closes, when made
	err    error
}

func (p *primed) open() { p.once.Do(func() { close(p.gate) }) }

// keepPrimed makes a primed allocation when the node keeps credentials, is registered,
// has no allocation and holds credentials from the rendezvous in use; it drops one
// that is from another rendezvous, failed, or is no longer wanted.
func (a *Agent) keepPrimed(ctx context.Context) {
	st := a.disc.Status()
	a.relayMu.Lock()
	defer a.relayMu.Unlock()
	a.mu.Lock()
	p, have := a.primed, a.relay != nil
	a.mu.Unlock()
	keeps := a.keepsCreds() && st.Registered && !have
	if p != nil {
		select {
		case <-p.done: // failed (or made unasked: cannot be, the gate is shut)
		default:
			if keeps && p.server == st.Server {
				return
			}
		}
		a.dropPrimedLocked(p)
	}
	h := a.held()
	if !keeps || !h.good(st.Server, h.expires) {
		return
	}
	cfg, err := turnConfig(h.resp, st.Server, nil)
	if err != nil {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, primeLife)
	p = &primed{server: st.Server, creds: h.resp, gate: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	a.mu.Lock()
	a.primed = p
	a.mu.Unlock()
	cfg.Gate = p.gate
	go func() {
		defer close(p.done)
		p.rl, p.err = a.cfg.Mux.AllocateTURN(pctx, cfg)
	}()
}

// dropPrimed drops the primed allocation, if any (the node stops).
func (a *Agent) dropPrimed() {
	a.relayMu.Lock()
	defer a.relayMu.Unlock()
	a.mu.Lock()
	p := a.primed
	a.mu.Unlock()
	if p != nil {
		a.dropPrimedLocked(p)
	}
}

// wakePrimer asks keepCreds to prime an allocation afresh (the node's was released).
func (a *Agent) wakePrimer() {
	select {
	case a.primeWake <- struct{}{}:
	default:
	}
}

// dropPrimedLocked cancels p and forgets it. Called with relayMu held.
func (a *Agent) dropPrimedLocked(p *primed) {
	p.cancel()
	<-p.done
	if p.rl != nil {
		p.rl.Close()
	}
	a.mu.Lock()
	if a.primed == p {
		a.primed = nil
	}
	a.mu.Unlock()
}

// takePrimed returns the allocation of the primed client, its authenticated request
// sent when gate closes (nil: at once); nil when there is none for the rendezvous in
// use or it fails, and the caller allocates afresh. Called with relayMu held.
func (a *Agent) takePrimed(ctx context.Context, gate <-chan struct{}) *nat.Relay {
	a.mu.Lock()
	p := a.primed
	a.primed = nil
	a.mu.Unlock()
	if p == nil {
		return nil
	}
	if p.server != a.disc.Status().Server {
		a.dropPrimedLocked(p)
		a.wakePrimer()
		return nil
	}
	go func() {
		if gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
				p.cancel()
				return
			case <-p.done:
				return
			}
		}
		p.open()
	}()
	select {
	case <-p.done:
	case <-ctx.Done():
		p.cancel()
		<-p.done
	}
	p.cancel() // the allocation, once made, no longer looks at the context
	if p.err != nil || ctx.Err() != nil {
		if p.rl != nil {
			p.rl.Close()
		}
		if ctx.Err() == nil {
			a.forgetCreds(p.creds) // refused, or their server is gone: fetch afresh
		}
		a.log.Debug("the primed TURN allocation failed; allocating afresh", "err", p.err)
		a.wakePrimer() // should this attempt fail too, the next one finds a primed one
		return nil
	}
	return p.rl
}
