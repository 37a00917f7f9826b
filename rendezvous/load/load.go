// Package load drives kith-rendezvous processes on one redis-server with simulated
// peers that do what real ones do (register and refresh, hold Listen streams, look up,
// send offers) and measures what that costs: RSS and CPU of each instance and of Redis,
// Redis memory per registered peer, and offer delivery latency. `make load` runs it
// through kith-load; it is never part of the tests.
package load

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kithnet/kith/shared/identity"
)

// Config is one load run. Zero fields take the defaults in brackets.
type Config struct {
	// RendezvousBin is the kith-rendezvous binary to run.
	RendezvousBin string
	// RedisServer is the redis-server binary to run ["redis-server"].
	RedisServer string
	// Instances is how many rendezvous instances share the one Redis [1].
	Instances int
	// Peers is how many peers register [100000].
	Peers int
	// Listeners is how many of them hold a Listen stream [10000].
	Listeners int
	// Rate is the steady phase's operations per second, all instances together:
	// 60% refreshes, 20% lookups, 20% offers to listening peers [1000].
	Rate int
	// Duration is the length of the steady phase [30 s].
	Duration time.Duration
	// Workers bounds concurrent calls [64].
	Workers int
	// StreamsPerConn is how many Listen streams share one connection [1: a real peer holds
	// its own]. More of them per connection hide the per-connection memory of an instance.
	StreamsPerConn int
	// Keys, when set, are the peers' keys (len ≥ Peers), reused across runs.
	Keys []*identity.Key
	// Dir holds the processes' logs; a temporary directory, removed, when empty.
	Dir string
	// Log receives progress lines [discarded].
	Log io.Writer
}

func (c Config) withDefaults() Config {
	if c.RedisServer == "" {
		c.RedisServer = "redis-server"
	}
	c.Instances = orInt(c.Instances, 1)
	c.Peers = orInt(c.Peers, 100_000)
	c.Listeners = orInt(c.Listeners, 10_000)
	c.Rate = orInt(c.Rate, 1000)
	c.Workers = orInt(c.Workers, 64)
	c.StreamsPerConn = min(orInt(c.StreamsPerConn, 1), maxStreamsPerConn)
	if c.Duration == 0 {
		c.Duration = 30 * time.Second
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Run starts a redis-server and cfg.Instances rendezvous processes, registers the
// peers, opens the Listen streams, runs the steady phase, and stops everything.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	if cfg.Listeners > cfg.Peers {
		return nil, fmt.Errorf("load: %d listeners but only %d peers", cfg.Listeners, cfg.Peers)
	}
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "kith-load-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		cfg.Dir = dir
	}
	keys := cfg.Keys
	if len(keys) < cfg.Peers {
		var err error
		fmt.Fprintf(cfg.Log, "generating %d keys\n", cfg.Peers)
		if keys, err = newKeys(cfg.Peers); err != nil {
			return nil, err
		}
	}
	redisProc, rc, err := startRedis(ctx, cfg.RedisServer, cfg.Dir)
	if err != nil {
		return nil, err
	}
	defer redisProc.stop()
	defer rc.Close()
	var procs []*process
	var addrs []string
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	for i := range cfg.Instances {
		p, addr, err := startRendezvous(ctx, cfg.RendezvousBin, cfg.Dir, fmt.Sprintf("rendezvous-%d", i), rc.Options().Addr)
		if err != nil {
			return nil, err
		}
		procs, addrs = append(procs, p), append(addrs, addr)
	}
	s, err := newSwarm(keys[:cfg.Peers], addrs, 8)
	if err != nil {
		return nil, err
	}
	defer s.close()
	r := &Report{Keys: keys, Instances: cfg.Instances, Peers: cfg.Peers, Listeners: cfg.Listeners, Rate: cfg.Rate, Duration: cfg.Duration}
	m := &meter{procs: procs, redis: redisProc, rc: rc}
	return r, r.fill(ctx, cfg, s, m)
}

// fill runs the phases and records their figures in r.
func (r *Report) fill(ctx context.Context, cfg Config, s *swarm, m *meter) error {
	idle, err := m.sample(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(cfg.Log, "%d instance(s): registering %d peers\n", cfg.Instances, cfg.Peers)
	if err := r.registerAll(ctx, cfg, s); err != nil {
		return err
	}
	registered, err := m.sample(ctx)
	if err != nil {
		return err
	}
	r.RedisBytesPerPeer = float64(registered.redis["used_memory"]-idle.redis["used_memory"]) / float64(cfg.Peers)
	r.RedisKeys = registered.redis["dbsize"]
	r.InstanceRSSRegistered = registered.instanceRSS()
	r.InstanceGoRegistered = registered.goMem

	fmt.Fprintf(cfg.Log, "opening %d Listen streams\n", cfg.Listeners)
	lctx, stopListen := context.WithCancel(ctx)
	start := time.Now()
	wait, err := s.listen(lctx, cfg.Listeners, cfg.StreamsPerConn, cfg.Workers)
	defer func() { stopListen(); wait() }()
	if err != nil {
		return err
	}
	r.ListenOpen = time.Since(start)
	listening, err := m.sample(ctx)
	if err != nil {
		return err
	}
	r.InstanceRSSListening = listening.instanceRSS()
	r.InstanceGoListening = listening.goMem
	r.RedisClients = listening.redis["connected_clients"]
	r.RedisUsedListening = listening.redis["used_memory"]
	r.RedisBytesPerListener = float64(listening.redis["used_memory"]-registered.redis["used_memory"]) / float64(cfg.Listeners)

	fmt.Fprintf(cfg.Log, "steady phase: %d ops/s for %v\n", cfg.Rate, cfg.Duration)
	before, selfBefore := listening, selfCPU()
	r.steady(ctx, cfg, s)
	after, err := m.sample(ctx)
	if err != nil {
		return err
	}
	r.LoadGenCPU = (selfCPU() - selfBefore).Seconds() / after.at.Sub(before.at).Seconds()
	r.cpu(before, after)
	r.InstanceRSSSteady = after.instanceRSS()
	r.RedisRSS = after.redis["used_memory_rss"]
	r.RedisUsed = after.redis["used_memory"]
	s.mu.Lock()
	r.Offers = latencies(s.arrived)
	r.OffersUndelivered = len(s.sent)
	r.ListenLost = s.lost
	s.mu.Unlock()
	return nil
}

// registerAll registers every peer once with a 10-minute TTL (so none expires during
// the run) as fast as cfg.Workers concurrent calls go.
func (r *Report) registerAll(ctx context.Context, cfg Config, s *swarm) error {
	var mu sync.Mutex
	var lat []time.Duration
	start := time.Now()
	err := parallelN(cfg.Peers, cfg.Workers, func(i int) error {
		env, err := s.registration(i, time.Now(), 10*time.Minute)
		if err != nil {
			return err
		}
		t0 := time.Now()
		if err := s.register(ctx, i, env); err != nil {
			return fmt.Errorf("register peer %d: %w", i, err)
		}
		d := time.Since(t0)
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
		return nil
	})
	r.RegisterRate = float64(cfg.Peers) / time.Since(start).Seconds()
	r.Register = latencies(lat)
	return err
}

// steady runs cfg.Rate operations per second for cfg.Duration: refreshes of random
// peers, lookups of random peers, offers to random listening peers. Operations the
// workers cannot start in time are dropped and counted: the rate is then what the
// machine could do.
func (r *Report) steady(ctx context.Context, cfg Config, s *swarm) {
	type op struct {
		kind   int // 0 refresh, 1 lookup, 2 offer
		caller int
		target int
	}
	ops := make(chan op, cfg.Workers)
	var calls, failed [3]atomic.Int64
	var dropped atomic.Int64
	var mu sync.Mutex
	lat := [3][]time.Duration{}
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range ops {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				t0 := time.Now()
				var err error
				switch o.kind {
				case 0:
					env, serr := s.registration(o.caller, time.Now(), 10*time.Minute)
					if err = serr; err == nil {
						err = s.register(cctx, o.caller, env)
					}
				case 1:
					err = s.lookup(cctx, o.caller, o.target)
				case 2:
					err = s.offer(cctx, o.caller, o.target)
				}
				d := time.Since(t0)
				cancel()
				calls[o.kind].Add(1)
				if err != nil {
					if failed[o.kind].Add(1) == 1 {
						mu.Lock()
						r.FirstErrors[o.kind] = err.Error()
						mu.Unlock()
					}
					continue
				}
				mu.Lock()
				lat[o.kind] = append(lat[o.kind], d)
				mu.Unlock()
			}
		}()
	}
	t := time.NewTicker(10 * time.Millisecond)
	end := time.After(cfg.Duration)
	issued, refreshed := 0, 0
	start := time.Now()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-end:
			break loop
		case <-t.C:
		}
		for due := int(time.Since(start).Seconds() * float64(cfg.Rate)); issued < due; issued++ {
			o := op{caller: rand.IntN(cfg.Peers), target: rand.IntN(cfg.Peers)}
			switch x := rand.IntN(10); {
			case x < 6: // peers refresh in turn, as their timers spread them out
				o.kind, o.caller = 0, refreshed%cfg.Peers
				refreshed++
			case x < 8:
				o.kind = 1
			default:
				o.kind, o.target = 2, rand.IntN(cfg.Listeners)
			}
			select {
			case ops <- o:
			default:
				dropped.Add(1)
			}
		}
	}
	t.Stop()
	close(ops)
	wg.Wait()
	elapsed := time.Since(start)
	time.Sleep(time.Second) // let the last offers arrive
	total := int64(0)
	for k := range 3 {
		total += calls[k].Load() - failed[k].Load()
	}
	r.Achieved = float64(total) / elapsed.Seconds()
	r.Dropped = dropped.Load()
	r.Refresh, r.Lookup, r.Connect = latencies(lat[0]), latencies(lat[1]), latencies(lat[2])
	r.Failed = [3]int64{failed[0].Load(), failed[1].Load(), failed[2].Load()}
}

// parallel runs f(0..n-1) on every core; the first error wins.
func parallel(n int, f func(int) error) error { return parallelN(n, runtime.GOMAXPROCS(0), f) }

// parallelN runs f(0..n-1) with at most workers at once; the first error stops it.
func parallelN(n, workers int, f func(int) error) error {
	var next atomic.Int64
	var stop atomic.Bool
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err; stop.Store(true) })
				}
			}
		}()
	}
	wg.Wait()
	return first
}
