package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kithnet/kith/rendezvous/store"
)

// ipBudget charges calls to their client IP's shared budget in chunks: one store round
// trip per chunk of calls instead of one per call, which was as much again as the rest
// of a Lookup on Redis. A chunk is a fiftieth of the limit (1 below a limit of 100, so
// small limits stay exact); each instance may let at most chunk-1 calls of one IP past
// the shared count in a window, and an IP seen once costs no round trip at all.
type ipBudget struct {
	store  store.Store
	limit  int
	window time.Duration
	now    func() time.Time

	mu  sync.Mutex          // guards ips, ops
	ips map[string]*ipSpent // by client IP, for the current local window
	ops int
}

type ipSpent struct {
	end     time.Time // of the local window
	pending int       // calls counted here, not yet sent to the store
	refused bool      // the store said the shared budget is spent
}

func newIPBudget(s store.Store, limit int, window time.Duration, now func() time.Time) *ipBudget {
	return &ipBudget{store: s, limit: limit, window: window, now: now, ips: map[string]*ipSpent{}}
}

// chunk is how many calls go to the store at once.
func (b *ipBudget) chunk() int { return max(1, b.limit/50) }

// allow charges one call of ip, and says whether its budget allows it.
func (b *ipBudget) allow(ctx context.Context, ip string) error {
	if b.limit < 0 {
		return nil
	}
	b.mu.Lock()
	now := b.now()
	b.sweepLocked(now)
	c := b.ips[ip]
	if c == nil || !now.Before(c.end) {
		c = &ipSpent{end: now.Add(b.window)}
		b.ips[ip] = c
	}
	if c.refused {
		b.mu.Unlock()
		return b.refusal(ip)
	}
	c.pending++
	n := c.pending
	if n < b.chunk() {
		b.mu.Unlock()
		return nil
	}
	c.pending = 0
	b.mu.Unlock()
	ok, err := b.store.AllowN(ctx, "ip:"+ip, n, b.limit, b.window)
	if err != nil {
		return err
	}
	if !ok {
		b.mu.Lock()
		c.refused = true
		b.mu.Unlock()
		return b.refusal(ip)
	}
	return nil
}

func (b *ipBudget) refusal(ip string) error {
	return fmt.Errorf("client %s: %w (%d requests per %s for ip:%s)", ip, ErrRateLimited, b.limit, b.window, ip)
}

// sweepLocked drops ended windows every so many calls, so the map holds only the
// addresses of the current window.
func (b *ipBudget) sweepLocked(now time.Time) {
	if b.ops++; b.ops%4096 != 0 {
		return
	}
	for ip, c := range b.ips {
		if !now.Before(c.end) {
			delete(b.ips, ip)
		}
	}
}
