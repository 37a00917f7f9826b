package reach

import (
	"context"
	"time"

	"github.com/kithnet/kith/peer/transport"
)

// liveness is what the agent saw of one connection's received-packet count.
type liveness struct {
	received uint64
	changed  time.Time // when received last moved
	seen     time.Time // when the connection was last sampled
}

func liveKey(p transport.Peer) string { return string(p.ID) + "|" + p.Path + "|" + p.Remote }

// stale is how long a connection may receive nothing before it no longer counts as
// connected: a keepalive interval (the other end's keepalives, or the answers to ours,
// arrive at least that often on a live path) and half of one for the round trip.
func (a *Agent) stale() time.Duration { return a.cfg.KeepAlive + a.cfg.KeepAlive/2 }

// allPeers lists the live connections on the node's transport, the relay's and the
// spare sockets', each marked with the path it takes.
func (a *Agent) allPeers() []transport.Peer {
	ps := a.cfg.Transport.Peers()
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range ps {
		if a.viaRelayLocked(ps[i].Remote) {
			ps[i].Path = transport.Relay
		}
	}
	if a.relay != nil {
		ps = append(ps, a.relay.tr.Peers()...)
	}
	return append(ps, a.sparePeersLocked()...)
}

// Peers lists the connections that answered within the last keepalive interval, each
// marked with the path it takes: `kith status` says "connected" only for those.
func (a *Agent) Peers() []transport.Peer {
	ps := a.sample(time.Now())
	out := ps[:0]
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range ps {
		l := a.live[liveKey(p)]
		if !l.changed.IsZero() && l.seen.Sub(l.changed) > a.stale() {
			continue // sampled long enough to know it has gone quiet
		}
		out = append(out, p)
	}
	return out
}

// sample records each connection's received count, and when it last moved.
func (a *Agent) sample(now time.Time) []transport.Peer {
	ps := a.allPeers()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.live == nil {
		a.live = map[string]liveness{}
	}
	keep := map[string]bool{}
	for _, p := range ps {
		k := liveKey(p)
		keep[k] = true
		l, ok := a.live[k]
		if !ok || p.Received != l.received {
			l.received, l.changed = p.Received, now
		}
		l.seen = now
		a.live[k] = l
	}
	for k := range a.live {
		if !keep[k] {
			delete(a.live, k)
		}
	}
	return ps
}

// liveEvery is how often connections are sampled: four times a keepalive interval,
// never more often than every 250 ms.
func liveEvery(keepAlive time.Duration) time.Duration {
	return max(keepAlive/4, 250*time.Millisecond)
}

// watchLive samples the connections often enough that Peers knows which went quiet.
func (a *Agent) watchLive(ctx context.Context) {
	every := liveEvery(a.cfg.KeepAlive)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
			a.sample(time.Now())
		}
	}
}
