// Command kith-load runs kith-rendezvous processes on a redis-server of its own, on
// loopback, drives them with simulated peers, and prints what they cost: RSS, CPU per
// 1000 operations per second, Redis memory per peer, offer delivery latency. It runs
// once with each instance count of --instances (default one, then two on one Redis).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kithnet/kith/rendezvous/load"
)

func main() {
	var cfg load.Config
	var instances string
	var timeout time.Duration
	flag.StringVar(&cfg.RendezvousBin, "rendezvous", "bin/kith-rendezvous", "kith-rendezvous `binary`")
	flag.StringVar(&cfg.RedisServer, "redis-server", "redis-server", "redis-server `binary`")
	flag.StringVar(&instances, "instances", "1,2", "instance counts to run, one run each, comma-separated")
	flag.IntVar(&cfg.Peers, "peers", 100_000, "registered peers")
	flag.IntVar(&cfg.Listeners, "listeners", 10_000, "peers holding a Listen stream")
	flag.IntVar(&cfg.Rate, "rate", 1000, "steady-phase operations per second (60% refresh, 20% lookup, 20% offer)")
	flag.DurationVar(&cfg.Duration, "duration", 30*time.Second, "steady-phase length")
	flag.IntVar(&cfg.Workers, "workers", 64, "concurrent calls at most")
	flag.IntVar(&cfg.StreamsPerConn, "streams-per-conn", 1, "Listen streams sharing one connection (1: each peer its own, as real peers; at most 15)")
	flag.DurationVar(&timeout, "timeout", 15*time.Minute, "give up after this long")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := run(ctx, cfg, instances); err != nil {
		fmt.Fprintln(os.Stderr, "kith-load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg load.Config, instances string) error {
	if err := raiseFileLimit(); err != nil {
		return err
	}
	cfg.Log = os.Stderr
	fmt.Printf("kith-load %s: %d peers, %d Listen streams, steady %d ops/s for %v, loopback, %d CPUs shared by everything\n",
		time.Now().UTC().Format(time.RFC3339), cfg.Peers, cfg.Listeners, cfg.Rate, cfg.Duration, runtime.NumCPU())
	for _, f := range strings.Split(instances, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("--instances %q: want counts like 1,2", instances)
		}
		cfg.Instances = n
		r, err := load.Run(ctx, cfg)
		if err != nil {
			return fmt.Errorf("%d instance(s): %w", n, err)
		}
		cfg.Keys = r.Keys
		r.Print(os.Stdout)
	}
	return nil
}

// raiseFileLimit lifts the soft limit on open files to the hard one for this process
// and the processes it starts: every Listen stream is a socket in the rendezvous and a
// Redis connection. (Go raises its own soft limit, but not its children's.) It first
// tries to lift the hard limit to 1,048,576 (100k peers need more than a common 20k);
// that needs CAP_SYS_RESOURCE, which containers often drop.
func raiseFileLimit() error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	if want := (syscall.Rlimit{Cur: 1 << 20, Max: 1 << 20}); l.Max < want.Max && syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
		l = want
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("raise the open-file limit to %d: %w", l.Max, err)
	}
	fmt.Printf("open-file limit: %d\n", l.Cur)
	return nil
}
