package load

import (
	"context"
	"fmt"
	"io"
	"slices"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kithnet/kith/shared/identity"
)

// Latencies summarises a set of durations.
type Latencies struct {
	N        int
	P50, P99 time.Duration
}

func latencies(d []time.Duration) Latencies {
	if len(d) == 0 {
		return Latencies{}
	}
	d = slices.Clone(d)
	slices.Sort(d)
	return Latencies{N: len(d), P50: d[len(d)/2], P99: d[len(d)*99/100]}
}

func (l Latencies) String() string {
	return fmt.Sprintf("n=%d p50=%v p99=%v", l.N, l.P50.Round(10*time.Microsecond), l.P99.Round(10*time.Microsecond))
}

// Report is what one run measured.
type Report struct {
	// Keys are the peers' keys, for the next run.
	Keys []*identity.Key

	Instances, Peers, Listeners, Rate int
	Duration                          time.Duration

	// RegisterRate is registrations per second while registering every peer as fast
	// as the workers go, all instances together; Register their latencies.
	RegisterRate float64
	Register     Latencies
	// RedisBytesPerPeer is the growth of Redis used_memory per registered peer
	// (record, plus the per-key rate-limit counter while it lives); RedisKeys the
	// keys then.
	RedisBytesPerPeer float64
	RedisKeys         int64
	// ListenOpen is how long opening every Listen stream took.
	ListenOpen time.Duration
	// RedisBytesPerListener is the growth of used_memory per Listen stream (its
	// subscription connection); RedisClients the connections Redis then had.
	RedisBytesPerListener float64
	RedisClients          int64
	RedisUsedListening    int64
	// Instance RSS after registering, with the streams open, and after the steady phase.
	InstanceRSSRegistered, InstanceRSSListening, InstanceRSSSteady []int64
	// InstanceGoRegistered and InstanceGoListening are what each instance's Go runtime
	// said about its heap, stacks and goroutines at the same two moments.
	InstanceGoRegistered, InstanceGoListening []goMem

	// Achieved is the steady phase's successful operations per second; Dropped the
	// operations the workers could not start in time; Failed the failed calls
	// (refresh, lookup, offer).
	Achieved float64
	Dropped  int64
	Failed   [3]int64
	// FirstErrors holds the first error of each kind of call, if any.
	FirstErrors [3]string
	// Refresh, Lookup and Connect are call latencies; Offers the delivery latency from
	// Connect to the Listen stream.
	Refresh, Lookup, Connect, Offers Latencies
	OffersUndelivered                int
	ListenLost                       int
	// InstanceCores, RedisCores and LoadGenCPU are CPU cores used on average during
	// the steady phase (CPU seconds per second).
	InstanceCores       []float64
	RedisCores          float64
	LoadGenCPU          float64
	RedisRSS, RedisUsed int64
}

// CoresPer1kOps is the instances' CPU (all together) per 1000 operations per second.
func (r *Report) CoresPer1kOps() float64 {
	sum := 0.0
	for _, c := range r.InstanceCores {
		sum += c
	}
	return sum / (r.Achieved / 1000)
}

func (r *Report) cpu(before, after sample) {
	wall := after.at.Sub(before.at).Seconds()
	for i := range after.instances {
		r.InstanceCores = append(r.InstanceCores, (after.instances[i].cpu-before.instances[i].cpu).Seconds()/wall)
	}
	r.RedisCores = (after.redisProc.cpu - before.redisProc.cpu).Seconds() / wall
}

// Print writes the report for people.
func (r *Report) Print(w io.Writer) {
	mb := func(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }
	mbs := func(bs []int64) string {
		s := ""
		for i, b := range bs {
			if i > 0 {
				s += " + "
			}
			s += mb(b)
		}
		return s
	}
	fmt.Fprintf(w, "\n== %d instance(s) on one Redis: %d peers registered, %d Listen streams ==\n", r.Instances, r.Peers, r.Listeners)
	fmt.Fprintf(w, "register all:    %.0f registrations/s, %v\n", r.RegisterRate, r.Register)
	fmt.Fprintf(w, "redis per peer:  %.0f bytes of used_memory per registered peer (%d keys)\n", r.RedisBytesPerPeer, r.RedisKeys)
	fmt.Fprintf(w, "listen streams:  opened in %v; Redis +%.0f bytes per stream, %d client connections\n",
		r.ListenOpen.Round(time.Millisecond), r.RedisBytesPerListener, r.RedisClients)
	fmt.Fprintf(w, "instance RSS:    %s registered, %s with the streams, %s after the steady phase\n",
		mbs(r.InstanceRSSRegistered), mbs(r.InstanceRSSListening), mbs(r.InstanceRSSSteady))
	fmt.Fprintf(w, "steady phase:    asked %d ops/s for %v (60%% refresh, 20%% lookup, 20%% offer): %.0f ops/s done, %d dropped, failed %d/%d/%d\n",
		r.Rate, r.Duration, r.Achieved, r.Dropped, r.Failed[0], r.Failed[1], r.Failed[2])
	for i, e := range r.FirstErrors {
		if e != "" {
			fmt.Fprintf(w, "  first failure (%s): %s\n", [3]string{"refresh", "lookup", "offer"}[i], e)
		}
	}
	fmt.Fprintf(w, "  refresh:       %v\n  lookup:        %v\n  connect:       %v\n", r.Refresh, r.Lookup, r.Connect)
	fmt.Fprintf(w, "  offer delivery (Connect -> Listen stream): %v; %d undelivered, %d streams lost\n", r.Offers, r.OffersUndelivered, r.ListenLost)
	cores := ""
	for i, c := range r.InstanceCores {
		if i > 0 {
			cores += " + "
		}
		cores += fmt.Sprintf("%.2f", c)
	}
	fmt.Fprintf(w, "  CPU cores:     instances %s, redis %.2f, load generator %.2f\n", cores, r.RedisCores, r.LoadGenCPU)
	fmt.Fprintf(w, "  instances' CPU per 1k ops/s: %.2f cores\n", r.CoresPer1kOps())
	fmt.Fprintf(w, "redis:           used_memory %s, RSS %s after the steady phase\n", mb(r.RedisUsed), mb(r.RedisRSS))
	r.printGoals(w)
}

// printGoals sets the figures beside the scaling issue's goals, from this same run.
func (r *Report) printGoals(w io.Writer) {
	check := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	fmt.Fprintf(w, "goals (issue 14), this run:\n")
	fmt.Fprintf(w, "  redis connected_clients with %d Listen streams: %d (goal < 50): %s\n",
		r.Listeners, r.RedisClients, check(r.RedisClients < 50))
	fmt.Fprintf(w, "  redis bytes per registered peer, rate counters included: %.0f (goal ≤ 400): %s\n",
		r.RedisBytesPerPeer, check(r.RedisBytesPerPeer <= 400))
	for i := range r.InstanceRSSListening {
		if i >= len(r.InstanceRSSRegistered) || r.Instances == 0 {
			break
		}
		streams := float64(r.Listeners) / float64(r.Instances)
		per := float64(r.InstanceRSSListening[i]-r.InstanceRSSRegistered[i]) / streams
		fmt.Fprintf(w, "  instance %d: %.1f KB RSS per held Listen stream (%.0f streams; goal ≤ 15 KB): %s; RSS %.0f MB (goal ≤ 2048 MB at 100k): %s\n",
			i, per/1024, streams, check(per <= 15*1024), float64(r.InstanceRSSListening[i])/(1<<20),
			check(r.InstanceRSSListening[i] <= 2<<30))
		if i < len(r.InstanceRSSSteady) {
			// Idle streams' live memory hardly changes, but the heap grows towards the GC's
			// goal (twice the live heap by default) under the steady phase's garbage.
			fmt.Fprintf(w, "    after the steady phase: %.1f KB RSS per held Listen stream\n",
				float64(r.InstanceRSSSteady[i]-r.InstanceRSSRegistered[i])/streams/1024)
		}
		if i < len(r.InstanceGoListening) && i < len(r.InstanceGoRegistered) {
			fmt.Fprintf(w, "    of which, per stream: %s\n", perStream(r.InstanceGoRegistered[i], r.InstanceGoListening[i], streams))
		}
	}
	fmt.Fprintf(w, "  offer delivery p99 at %d ops/s: %v (goal ≤ 50 ms): %s\n", r.Rate, r.Offers.P99.Round(time.Millisecond),
		check(r.Offers.N > 0 && r.Offers.P99 <= 50*time.Millisecond))
}

// perStream splits the growth of an instance's Go memory from before to after over
// streams: live heap, heap spans, stacks, goroutines; and the GC's next target.
func perStream(before, after goMem, streams float64) string {
	kb := func(a, b int64) float64 { return float64(b-a) / streams / 1024 }
	limit := "none"
	if after.limit > 0 && after.limit < 1<<62 {
		limit = fmt.Sprintf("%.0f MB", float64(after.limit)/(1<<20))
	}
	return fmt.Sprintf("heap live at the last GC %.1f KB, heap allocated %.1f KB, heap spans %.1f KB, stacks %.1f KB, %.2f goroutines; next GC at %.0f MB, memory limit %s",
		kb(before.heapLive, after.heapLive), kb(before.heapAlloc, after.heapAlloc), kb(before.heapInuse, after.heapInuse), kb(before.stacks, after.stacks),
		float64(after.goroutines-before.goroutines)/streams, float64(after.nextGC)/(1<<20), limit)
}

// meter samples the processes.
type meter struct {
	procs []*process
	redis *process
	rc    *redis.Client
}

type sample struct {
	at        time.Time
	instances []usage
	goMem     []goMem // per instance, from its /metrics
	redisProc usage
	redis     map[string]int64
}

func (s sample) instanceRSS() []int64 {
	var out []int64
	for _, u := range s.instances {
		out = append(out, u.rss)
	}
	return out
}

func (m *meter) sample(ctx context.Context) (sample, error) {
	s := sample{at: time.Now()}
	for _, p := range m.procs {
		u, err := p.stats()
		if err != nil {
			return s, fmt.Errorf("%s: %w", p.name, err)
		}
		s.instances = append(s.instances, u)
		g, err := scrapeGoMem(ctx, p.metrics)
		if err != nil {
			return s, fmt.Errorf("%s: %w", p.name, err)
		}
		s.goMem = append(s.goMem, g)
	}
	var err error
	if s.redisProc, err = m.redis.stats(); err != nil {
		return s, err
	}
	s.redis, err = redisInfo(ctx, m.rc)
	return s, err
}

// selfCPU is this process's CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
