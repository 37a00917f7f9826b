package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// hub carries every Subscribe of one Redis store over one pub/sub connection per Redis
// node (a shard), whatever the number of Listen streams: a connection per stream made
// one Redis node's client cap the first limit of an instance, and let fresh keys
// exhaust it on purpose. Each channel is subscribed once (SSUBSCRIBE, one channel per
// command, so a Cluster never sees a cross-slot command) and fanned out in process.
//
// A shard that fails (its node died, a replica took over, a reply said MOVED) is
// rebuilt: every channel it carried is placed again by the current slot map and
// subscribed anew. Streams never notice; what is published meanwhile finds no
// subscriber, so SPUBLISH answers 0 and the caller hears ErrNoListener: an offer is
// delivered or reported failed, never silently dropped between accepted and sent.
type hub struct {
	c       redis.UniversalClient
	cluster *redis.ClusterClient // nil unless a Cluster: then channels are placed per node
	dropped atomic.Uint64        // messages a full subscriber queue refused
	// quiet is how long a shard's connection may stay silent before it is asked to
	// prove it is alive (a PING); one more such silence rebuilds it. Set before use.
	quiet time.Duration

	// cmdMu orders map changes with the (UN)SUBSCRIBE commands that follow them, so
	// that a channel left and joined again is subscribed in the end. It may be held
	// while Redis is slow; deliveries never take it. Lock order: cmdMu, then mu.
	cmdMu  sync.Mutex
	mu     sync.RWMutex            // guards closed, shards, subs, leaving
	closed bool                    //
	shards map[string]*shard       // by node address; "" when not a Cluster
	subs   map[string]*channelSubs // by channel
	// leaving holds, per channel, waiters for Redis to confirm an unsubscribe.
	leaving map[string][]chan struct{}

	wg sync.WaitGroup // shard readers
}

// channelSubs is the local subscribers of one channel and the shard carrying it.
type channelSubs struct {
	shard     *shard
	set       map[*redisSub]struct{}
	confirmed chan struct{} // closed once Redis confirmed the subscription
	once      sync.Once
}

func (cs *channelSubs) confirm() { cs.once.Do(func() { close(cs.confirmed) }) }

// shard is one pub/sub connection, to one node.
type shard struct {
	addr string
	ps   *redis.PubSub
	stop chan struct{} // closed when the shard is retired or the hub closes
	// reading is set once the reader runs (after the first SSUBSCRIBE); guarded by mu.
	reading bool
}

// subQueue is how many messages wait for a slow Listen stream before new ones are
// dropped (and counted): a stuck client holds at most this much, and blocks nobody.
const subQueue = 16

// confirmTimeout bounds the wait for Redis to confirm a (un)subscription.
const confirmTimeout = 5 * time.Second

func newHub(c redis.UniversalClient) *hub {
	h := &hub{c: c, quiet: 15 * time.Second, shards: map[string]*shard{}, subs: map[string]*channelSubs{}, leaving: map[string][]chan struct{}{}}
	h.cluster, _ = c.(*redis.ClusterClient)
	return h
}

// nodeOf returns the address of the node that owns channel's slot ("" off Cluster).
func (h *hub) nodeOf(ctx context.Context, channel string) (string, error) {
	if h.cluster == nil {
		return "", nil
	}
	m, err := h.cluster.MasterForKey(ctx, channel)
	if err != nil {
		return "", err
	}
	return m.Options().Addr, nil
}

// shardLocked returns the shard for addr, making it when there is none. cmdMu is held.
func (h *hub) shardLocked(addr string) *shard {
	h.mu.RLock()
	sh := h.shards[addr]
	h.mu.RUnlock()
	if sh != nil {
		return sh
	}
	// An empty PubSub connects on its first SSUBSCRIBE, to the owner of that channel.
	sh = &shard{addr: addr, ps: h.c.SSubscribe(context.Background()), stop: make(chan struct{})}
	h.mu.Lock()
	h.shards[addr] = sh
	h.mu.Unlock()
	return sh
}

// subscribe adds s to channel and waits until Redis confirmed the channel's subscription.
func (h *hub) subscribe(ctx context.Context, channel string, s *redisSub) error {
	h.cmdMu.Lock()
	h.mu.RLock()
	closed, cs := h.closed, h.subs[channel]
	h.mu.RUnlock()
	if closed {
		h.cmdMu.Unlock()
		return ErrClosed
	}
	if cs == nil {
		addr, err := h.nodeOf(ctx, channel)
		if err != nil {
			h.cmdMu.Unlock()
			return err
		}
		cs = &channelSubs{shard: h.shardLocked(addr), set: map[*redisSub]struct{}{}, confirmed: make(chan struct{})}
		h.mu.Lock()
		h.subs[channel] = cs
		cs.set[s] = struct{}{}
		h.mu.Unlock()
		if err := h.join(ctx, cs.shard, channel); err != nil {
			// A failed SSUBSCRIBE may leave the PubSub half subscribed: start afresh.
			h.mu.Lock()
			delete(cs.set, s)
			delete(h.subs, channel)
			s.closeLocked()
			h.mu.Unlock()
			if others := h.dropShardLocked(cs.shard); len(others) > 0 {
				h.wg.Add(1)
				go func() { defer h.wg.Done(); h.replace(others) }()
			}
			h.cmdMu.Unlock()
			return err
		}
	} else {
		h.mu.Lock()
		cs.set[s] = struct{}{}
		h.mu.Unlock()
	}
	h.cmdMu.Unlock()
	t := time.NewTimer(confirmTimeout)
	defer t.Stop()
	select {
	case <-cs.confirmed:
		return nil
	case <-ctx.Done():
		h.leave(s)
		return ctx.Err()
	case <-t.C:
		h.leave(s)
		return errors.New("redis did not confirm the subscription in time")
	}
}

// join sends SSUBSCRIBE for channel on sh and starts sh's reader after its first one
// (before it, the PubSub has no connection, and a read would open one to a random node).
// cmdMu is held.
func (h *hub) join(ctx context.Context, sh *shard, channel string) error {
	if err := sh.ps.SSubscribe(ctx, channel); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !sh.reading && !h.closed {
		sh.reading = true
		h.wg.Add(1)
		go h.read(sh)
	}
	return nil
}

// leave removes s; the last subscriber of a channel unsubscribes it. It closes s's queue.
func (h *hub) leave(s *redisSub) (gone chan struct{}) {
	h.cmdMu.Lock()
	defer h.cmdMu.Unlock()
	h.mu.Lock()
	cs := h.subs[s.channel]
	if cs == nil || !s.member(cs) {
		h.mu.Unlock()
		return nil
	}
	delete(cs.set, s)
	s.closeLocked()
	if len(cs.set) > 0 || h.closed {
		h.mu.Unlock()
		return nil
	}
	delete(h.subs, s.channel)
	gone = make(chan struct{})
	h.leaving[s.channel] = append(h.leaving[s.channel], gone)
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := cs.shard.ps.SUnsubscribe(ctx, s.channel); err != nil {
		h.confirmLeft(s.channel) // the connection is gone, and the subscription with it
	}
	return gone
}

// confirmLeft wakes the oldest waiter for channel's unsubscribe.
func (h *hub) confirmLeft(channel string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if w := h.leaving[channel]; len(w) > 0 {
		close(w[0])
		if len(w) == 1 {
			delete(h.leaving, channel)
		} else {
			h.leaving[channel] = w[1:]
		}
	}
}

// read receives sh's messages until stop, and rebuilds sh when its connection fails.
func (h *hub) read(sh *shard) {
	defer h.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-sh.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	idle := 0
	for {
		m, err := sh.ps.ReceiveTimeout(ctx, h.quiet)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() && idle == 0 {
				idle++ // quiet: ask the connection to prove it is alive
				_ = sh.ps.Ping(ctx)
				continue
			}
			h.rebuild(sh)
			return
		}
		idle = 0
		h.dispatch(m)
	}
}

// dispatch hands one pub/sub event to whom it concerns.
func (h *hub) dispatch(m any) {
	switch m := m.(type) {
	case *redis.Message:
		h.mu.RLock()
		if cs := h.subs[m.Channel]; cs != nil {
			msg := []byte(m.Payload) // read only by every receiver
			for s := range cs.set {
				select {
				case s.ch <- msg:
				default:
					h.dropped.Add(1)
				}
			}
		}
		h.mu.RUnlock()
	case *redis.Subscription:
		switch m.Kind {
		case "ssubscribe":
			h.mu.RLock()
			if cs := h.subs[m.Channel]; cs != nil {
				cs.confirm()
			}
			h.mu.RUnlock()
		case "sunsubscribe":
			h.confirmLeft(m.Channel)
		}
	}
}

// rebuild replaces a failed shard: its channels are placed again (the slot map may
// have changed: a replica took over) and subscribed on fresh connections.
func (h *hub) rebuild(failed *shard) {
	h.cmdMu.Lock()
	channels := h.dropShardLocked(failed)
	h.cmdMu.Unlock()
	if len(channels) > 0 {
		h.replace(channels)
	}
}

// replace subscribes channels again after their shard failed.
func (h *hub) replace(channels []string) {
	h.cmdMu.Lock()
	defer h.cmdMu.Unlock()
	for backoff := 50 * time.Millisecond; len(channels) > 0; backoff = min(2*backoff, time.Second) {
		if channels = h.resubscribeLocked(channels); len(channels) == 0 {
			return
		}
		h.cmdMu.Unlock()
		time.Sleep(backoff)
		h.cmdMu.Lock()
		h.mu.RLock()
		closed := h.closed
		h.mu.RUnlock()
		if closed {
			return
		}
	}
}

// dropShardLocked retires sh (when it is still current) and returns the channels it
// carried. Waiters for unsubscribes are released: with the connection, the
// subscriptions are gone. cmdMu is held.
func (h *hub) dropShardLocked(sh *shard) (channels []string) {
	h.mu.Lock()
	if h.closed || h.shards[sh.addr] != sh {
		h.mu.Unlock()
		return nil
	}
	delete(h.shards, sh.addr)
	for ch, cs := range h.subs {
		if cs.shard == sh {
			channels = append(channels, ch)
		}
	}
	for ch, ws := range h.leaving {
		for _, w := range ws {
			close(w)
		}
		delete(h.leaving, ch)
	}
	h.mu.Unlock()
	_ = sh.ps.Close()
	close(sh.stop)
	return channels
}

// resubscribeLocked places each channel still wanted on its node's shard and returns
// those left to retry: when a shard fails, all it carried. cmdMu is held.
func (h *hub) resubscribeLocked(channels []string) []string {
	h.mu.RLock()
	closed := h.closed
	h.mu.RUnlock()
	if closed {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, ch := range channels {
		h.mu.RLock()
		cs := h.subs[ch]
		h.mu.RUnlock()
		if cs == nil {
			continue // left meanwhile
		}
		addr, err := h.nodeOf(ctx, ch)
		if err != nil {
			return channels[i:]
		}
		sh := h.shardLocked(addr)
		h.mu.Lock()
		cs.shard = sh
		h.mu.Unlock()
		if err := h.join(ctx, sh, ch); err != nil {
			// A failed SSUBSCRIBE may leave the PubSub half subscribed: start afresh.
			return append(h.dropShardLocked(sh), channels[i+1:]...)
		}
	}
	return nil
}

// close ends every shard and every subscription.
func (h *hub) close() {
	h.cmdMu.Lock()
	h.mu.Lock()
	h.closed = true
	for _, cs := range h.subs {
		for s := range cs.set {
			s.closeLocked()
		}
	}
	h.subs = map[string]*channelSubs{}
	shards := h.shards
	h.shards = map[string]*shard{}
	h.mu.Unlock()
	h.cmdMu.Unlock()
	for _, sh := range shards {
		_ = sh.ps.Close()
		close(sh.stop)
	}
	h.wg.Wait()
}

// redisSub is one Subscribe on the hub.
type redisSub struct {
	h       *hub
	channel string
	ch      chan []byte // closed under h.mu, so a delivery never sends on a closed queue
	closed  bool        // guarded by h.mu
	stopCtx func() bool // stops the context.AfterFunc that ends s with its context
}

func (s *redisSub) member(cs *channelSubs) bool { _, ok := cs.set[s]; return ok }

// closeLocked closes s's queue once; h.mu is held.
func (s *redisSub) closeLocked() {
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
}

func (s *redisSub) Messages() <-chan []byte { return s.ch }

// Close implements Subscription: it waits (up to a second) for Redis to confirm that
// the channel is left, so a Publish after Close reports ErrNoListener.
func (s *redisSub) Close() error {
	if s.stopCtx != nil {
		s.stopCtx()
	}
	if gone := s.h.leave(s); gone != nil {
		select {
		case <-gone:
		case <-time.After(time.Second):
		}
	}
	return nil
}

// String names the subscription, for logs.
func (s *redisSub) String() string { return fmt.Sprintf("subscription(%s)", s.channel) }
