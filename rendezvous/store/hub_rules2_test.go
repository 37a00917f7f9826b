package store

import (
	"context"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/redistest"
)

// TestDeviceChannel: each device of a person listens on its own channel, named by the
// person and the device, so one device's Listen never takes another's offers.
func TestDeviceChannel(t *testing.T) {
	fp := fingerprint(t)
	a, b := DeviceChannel(fp, []byte{0x01, 0xab}), DeviceChannel(fp, []byte{0x01, 0xac})
	if want := fp + ".01ab"; a != want {
		t.Fatalf("DeviceChannel = %q, want %q", a, want)
	}
	if a == b || a == fp || DeviceChannel(fingerprint(t), []byte{0x01, 0xab}) == a {
		t.Fatalf("device channels collide: %q %q", a, b)
	}
}

// TestRedisPing: the health check reports a Redis that answers, and fails for one
// that does not.
func TestRedisPing(t *testing.T) {
	srv := redistest.Start(t)
	r, err := Dial(srv.URL(), nil)
	must(t, err)
	t.Cleanup(func() { r.Close() })
	if err := r.Ping(t.Context()); err != nil {
		t.Fatalf("Ping of a live Redis: %v", err)
	}
	down, err := Dial("redis://127.0.0.1:1", nil)
	must(t, err)
	t.Cleanup(func() { down.Close() })
	if err := down.Ping(t.Context()); err == nil {
		t.Fatal("Ping of nothing listening succeeded")
	}
}

// subOn registers a subscriber of channel on sh by hand, as subscribe would, without
// any command to Redis.
func subOn(h *hub, sh *shard, channel string) *redisSub {
	s := &redisSub{h: h, channel: channel, ch: make(chan []byte, subQueue)}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.shards[sh.addr] = sh
	h.subs[channel] = &channelSubs{shard: sh, set: map[*redisSub]struct{}{s: {}}, confirmed: make(chan struct{})}
	return s
}

// deadShard is a shard whose connection is closed, as after its node went away.
func deadShard(t *testing.T, c redis.UniversalClient) *shard {
	t.Helper()
	ps := c.SSubscribe(context.Background())
	must(t, ps.Close())
	return &shard{ps: ps, stop: make(chan struct{})}
}

// TestLeaveWithConnectionGone: when the unsubscribe cannot even be sent (the
// connection is gone, and the subscription with it), Close is not kept waiting for a
// confirmation that will never come.
func TestLeaveWithConnectionGone(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { c.Close() })
	h := newHub(c)
	s := subOn(h, deadShard(t, c), "ch")
	gone := h.leave(s)
	if gone == nil {
		t.Fatal("the last subscriber's leave returned no waiter")
	}
	select {
	case <-gone:
	default:
		t.Fatal("a failed unsubscribe left its waiter waiting")
	}
	if _, ok := <-s.ch; ok {
		t.Fatal("the subscriber's queue is still open")
	}
}

// TestJoinFailureKeepsOthers: a subscription whose SSUBSCRIBE fails retires its
// connection, and the channels that connection carried for others are subscribed
// again, so their listeners keep receiving.
func TestJoinFailureKeepsOthers(t *testing.T) {
	srv := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { c.Close() })
	h := newHub(c)
	t.Cleanup(h.close)
	other := subOn(h, deadShard(t, c), "other")
	s := &redisSub{h: h, channel: "new", ch: make(chan []byte, subQueue)}
	if err := h.subscribe(t.Context(), "new", s); err == nil {
		t.Fatal("subscribe on a dead connection succeeded")
	}
	h.mu.RLock()
	_, kept := h.subs["new"]
	h.mu.RUnlock()
	if kept {
		t.Fatal("the failed subscription was kept")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := c.SPublish(t.Context(), "other", "hello").Result()
		must(t, err)
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other channel of the failed connection was not subscribed again in 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case m := <-other.ch:
		if string(m) != "hello" {
			t.Fatalf("other got %q, want hello", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the other channel's listener heard nothing")
	}
}

// TestReplaceBacksOff: while Redis cannot be reached, channels are subscribed again
// with a growing pause between attempts, not in a loop that hammers the network.
func TestReplaceBacksOff(t *testing.T) {
	var dials atomic.Int64
	c := redis.NewClient(&redis.Options{
		Addr:          "127.0.0.1:1",
		DialerRetries: 1,
		PoolSize:      1 << 20, // go-redis would stop dialling after PoolSize failures
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	})
	t.Cleanup(func() { c.Close() })
	h := newHub(c)
	subOn(h, deadShard(t, c), "ch")
	done := make(chan struct{})
	go func() { defer close(done); h.replace([]string{"ch"}) }()
	time.Sleep(400 * time.Millisecond)
	h.close()
	<-done
	// Attempts at 0, 50, 150 and 350 ms: at most 4, some slack for a slow machine.
	if n := dials.Load(); n < 1 || n > 6 {
		t.Fatalf("%d connection attempts in 400 ms, want 1 to 6 (50 ms, then doubling)", n)
	}
}

// TestClosedSubscriptionReleased: a closed subscription is not held by the context it
// was made with (a Listen stream's, which may live long after).
func TestClosedSubscriptionReleased(t *testing.T) {
	srv := redistest.Start(t)
	r, err := Dial(srv.URL(), nil)
	must(t, err)
	t.Cleanup(func() { r.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	freed := make(chan struct{})
	func() {
		sub, err := r.Subscribe(ctx, fingerprint(t))
		must(t, err)
		runtime.AddCleanup(sub.(*redisSub), func(ch chan struct{}) { close(ch) }, freed)
		must(t, sub.Close())
	}()
	for range 100 {
		runtime.GC()
		select {
		case <-freed:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("a closed subscription is still held while its context lives")
}

// TestQuietConnectionKept: a connection that stays silent but answers the probe is
// kept (rebuilding it would lose what is published meanwhile), and delivers.
func TestQuietConnectionKept(t *testing.T) {
	r, fp, sub, shardOf := quietSub(t, redistest.Start(t), 100*time.Millisecond)
	before := shardOf()
	time.Sleep(700 * time.Millisecond) // several quiet periods
	if after := shardOf(); after != before {
		t.Fatal("a quiet connection that answers its probe was rebuilt")
	}
	checkDelivery(t, r, []identity.Fingerprint{fp}, []Subscription{sub}, 0)
}

// quietSub dials srv with connections probed after quiet of silence and subscribes one
// fingerprint; shardOf returns the connection that carries it now.
func quietSub(t *testing.T, srv *redistest.Server, quiet time.Duration) (r *Redis, fp identity.Fingerprint, sub Subscription, shardOf func() *shard) {
	t.Helper()
	r, err := Dial(srv.URL(), nil)
	must(t, err)
	t.Cleanup(func() { r.Close() })
	r.hub.quiet = quiet
	fp = fingerprint(t)
	sub, err = r.Subscribe(t.Context(), fp)
	must(t, err)
	t.Cleanup(func() { sub.Close() })
	shardOf = func() *shard {
		r.hub.mu.RLock()
		defer r.hub.mu.RUnlock()
		return r.hub.shards[""]
	}
	return r, fp, sub, shardOf
}

// closeFails is a real connection whose Close reports the error of closing it twice,
// as a socket the system failed to release would.
type closeFails struct{ net.Conn }

func (c closeFails) Close() error { c.Conn.Close(); return c.Conn.Close() }

// TestCloseReportsFailure: Close reports a client that failed to close; closing a
// store twice is quiet.
func TestCloseReportsFailure(t *testing.T) {
	srv := redistest.Start(t)
	r := NewRedis(redis.NewClient(&redis.Options{
		Addr: srv.Addr(),
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return closeFails{c}, nil
		},
	}))
	must(t, r.Ping(t.Context()))
	if err := r.Close(); err == nil {
		t.Fatal("Close hid the failure to close a connection")
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v, want nil", err)
	}
}

// TestHungConnectionRebuilt: a connection that stays silent and does not answer the
// probe either (here Redis pauses every client) is rebuilt, and the subscription it
// carried delivers again once Redis answers.
func TestHungConnectionRebuilt(t *testing.T) {
	if q := newHub(nil).quiet; q != 15*time.Second { // the hub every store is made with
		t.Fatalf("a store's connections are probed after %v of silence, want 15s", q)
	}
	srv := redistest.Start(t)
	r, fp, sub, shardOf := quietSub(t, srv, 100*time.Millisecond)
	before := shardOf()
	if _, err := srv.Do("CLIENT", "PAUSE", "1000", "ALL"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(900 * time.Millisecond); shardOf() == before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a connection that did not answer its probe was not rebuilt while Redis paused")
		}
	}
	// Publishing fails until the subscription is made again after the pause.
	checkDelivery(t, r, []identity.Fingerprint{fp}, []Subscription{sub}, 5*time.Second)
}
