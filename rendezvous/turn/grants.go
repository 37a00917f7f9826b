package turn

import (
	"net/netip"
	"sync"
	"time"
)

// Grants is who may allocate a relay on this instance, and towards whom (issue 13 item
// 13). The rendezvous grants a client address when it delivers that client's offer to a
// listening peer (Connect), naming the addresses it knows the target by: the candidates
// of the target's signed record and the source of its Listen stream. The TURN server then
// allocates only for a client with a fresh grant, and permits relaying only towards the
// addresses its grants name. So a fresh key alone gets no relay, and a relay reaches only
// a peer someone is actually connecting to.
//
// Grants live in the instance's memory, like its allocations: a client allocates on the
// TURN server of the instance it signals through (the URIs that instance hands out).
type Grants struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	by map[netip.Addr][]grant // guards by; client address -> live grants
}

type grant struct {
	peers   []netip.Addr
	expires time.Time
}

// DefaultGrantTTL is how long after a Connect its client may allocate and add permissions:
// long enough for a punch to fail and the relay fallback to start.
const DefaultGrantTTL = 2 * time.Minute

// sweepAbove is how many client addresses the table holds before Grant drops every
// expired grant (clients that never come back are otherwise never looked at again).
const sweepAbove = 4096

// maxGrantsPerClient bounds the memory one client address can make the table hold.
const maxGrantsPerClient = 64

// NewGrants returns an empty table whose grants last ttl (DefaultGrantTTL when zero).
func NewGrants(ttl time.Duration, now func() time.Time) *Grants {
	if ttl <= 0 {
		ttl = DefaultGrantTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Grants{ttl: ttl, now: now, by: map[netip.Addr][]grant{}}
}

// Grant lets client allocate, and relay towards peers, for the table's TTL.
func (g *Grants) Grant(client netip.Addr, peers []netip.Addr) {
	if g == nil || !client.IsValid() {
		return
	}
	client = client.Unmap()
	unmapped := make([]netip.Addr, 0, len(peers))
	for _, p := range peers {
		if p.IsValid() {
			unmapped = append(unmapped, p.Unmap())
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.by) > sweepAbove {
		for c := range g.by {
			g.liveLocked(c)
		}
	}
	live := g.liveLocked(client)
	if len(live) >= maxGrantsPerClient {
		live = live[1:]
	}
	g.by[client] = append(live, grant{peers: unmapped, expires: g.now().Add(g.ttl)})
}

// MayAllocate reports whether client holds a live grant.
func (g *Grants) MayAllocate(client netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.liveLocked(client.Unmap())) > 0
}

// MayRelay reports whether one of client's live grants names peer.
func (g *Grants) MayRelay(client, peer netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	peer = peer.Unmap()
	for _, gr := range g.liveLocked(client.Unmap()) {
		for _, p := range gr.peers {
			if p == peer {
				return true
			}
		}
	}
	return false
}

// liveLocked drops client's expired grants and returns the rest.
func (g *Grants) liveLocked(client netip.Addr) []grant {
	now := g.now()
	gs := g.by[client]
	live := gs[:0]
	for _, gr := range gs {
		if now.Before(gr.expires) {
			live = append(live, gr)
		}
	}
	if len(live) == 0 {
		delete(g.by, client)
		return nil
	}
	g.by[client] = live
	return live
}
