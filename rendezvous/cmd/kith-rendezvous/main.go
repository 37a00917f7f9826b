// Command kith-rendezvous is the matchmaker a community hosts for kith peers: it maps
// key fingerprints to signed endpoint records, relays connection offers between peers,
// and runs STUN/TURN as the fallback relay. It never sees content.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kithnet/kith/rendezvous"
)

const usage = `kith-rendezvous: the matchmaker a community hosts for kith peers.

It maps public-key fingerprints to endpoint records that the peers sign themselves,
delivers connection offers so two peers can punch through their NATs at the same time,
and runs STUN and TURN for peers that need a relay. It never sees posts, and peers never
trust it for authenticity: everything it returns is signed by the peer it describes.

Every flag can also be set in the environment as KITH_RENDEZVOUS_<FLAG>, upper case with
dashes as underscores (KITH_RENDEZVOUS_TURN_SECRET); a flag on the command line wins.
Prefer the environment for --turn-secret: command lines are visible to every local user.

Usage:
  kith-rendezvous [flags]

Flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kith-rendezvous", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg rendezvous.Config
	var cluster, level, memLimit string
	fs.StringVar(&cfg.Listen, "listen", ":7000", "gRPC `address`")
	fs.StringVar(&cfg.STUN, "stun", ":3478", "UDP `address` of STUN and TURN")
	fs.StringVar(&cfg.STUNAlt, "stun-alt", "", "second UDP `address` of STUN (and TURN) on this host, from which peers tell a symmetric NAT; empty: none")
	fs.StringVar(&cfg.RedisURL, "redis", "", "Redis `URL` (redis:// or rediss://; add ?master_name=NAME for Sentinel); empty: in-memory store")
	fs.StringVar(&cluster, "redis-cluster", "", "Redis Cluster nodes, comma-separated `host:port,...`")
	fs.StringVar(&cfg.Name, "name", "", "server `name` that peers' signed proofs must carry (default: random per process)")
	fs.StringVar(&cfg.TURNSecret, "turn-secret", "", "TURN REST-API shared `secret` (as coturn's static-auth-secret); empty disables TURN")
	fs.StringVar(&cfg.TURNRelayIP, "turn-relay-ip", "", "`IP` TURN relays are announced at (default: the --stun IP, or 127.0.0.1)")
	fs.BoolVar(&cfg.TURNAllowPrivate, "turn-allow-private", false, "allow relaying to loopback, private, link-local and multicast peers")
	fs.StringVar(&cfg.PublicHost, "public-host", "", "`host` put in the stun:/turn: URIs given to peers (default: the relay IP)")
	fs.StringVar(&cfg.Metrics, "metrics", "", "HTTP `address` serving Prometheus /metrics; empty: off")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate `file` (PEM) for gRPC")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS key `file` (PEM) for gRPC")
	fs.DurationVar(&cfg.Limits.ClockWindow, "clock-window", 60*time.Second, "how far a signed timestamp may lie from server time, either way")
	fs.IntVar(&cfg.TURNQuota, "turn-quota", 8, "most TURN allocations one user may hold at once")
	fs.IntVar(&cfg.TURNPerIP, "turn-per-ip", 4, "most TURN allocations one client address may hold at once, whatever its keys")
	fs.IntVar(&cfg.TURNTotal, "turn-total", 1024, "most TURN allocations this instance holds at once")
	fs.IntVar(&cfg.RateLimit.PerIP, "rate-limit-ip", 0, "requests per minute from one client IP (0: 1200; negative: no limit)")
	fs.IntVar(&cfg.RateLimit.PerFingerprint, "rate-limit-key", 0, "signed requests per minute of one key (0: 120; negative: no limit)")
	fs.IntVar(&cfg.RateLimit.PerTarget, "rate-limit-target", 0, "sealed offers per minute to one target (0: 120; negative: no limit)")
	fs.IntVar(&cfg.ListensPerIP, "max-listen-per-ip", 100, "most Listen streams held at once for one client IP (negative: no bound)")
	fs.StringVar(&level, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&memLimit, "memory-limit", "auto", "soft memory `limit` of the Go runtime: a size (1800MiB, 2GiB, bytes), off, or auto: GOMEMLIMIT if set, else 90% of the container's cgroup memory limit, else none")
	printUsage := func(w io.Writer) {
		fmt.Fprint(w, usage)
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	fs.Usage = func() {} // flag calls it on every parse error; we print once below
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return 0
		}
		printUsage(stderr)
		return 2
	}
	if err := fromEnv(fs, getenv); err != nil {
		fmt.Fprintln(stderr, "kith-rendezvous:", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kith-rendezvous: unexpected arguments %q\n", fs.Args())
		return 2
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		fmt.Fprintf(stderr, "kith-rendezvous: --log-level %q: want debug, info, warn or error\n", level)
		return 2
	}
	var err error
	if cfg.MemoryLimit, err = rendezvous.ParseMemoryLimit(memLimit); err != nil {
		fmt.Fprintln(stderr, "kith-rendezvous:", err)
		return 2
	}
	if cluster != "" {
		cfg.RedisCluster = strings.Split(cluster, ",")
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lv}))
	if err := rendezvous.Run(ctx, cfg); err != nil {
		cfg.Logger.Error("kith-rendezvous: exiting", "err", err)
		return 1
	}
	return 0
}

// fromEnv sets every flag not given on the command line from KITH_RENDEZVOUS_<FLAG>.
func fromEnv(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if v := getenv(name); v != "" && !given[f.Name] && err == nil {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q: %v", name, v, serr)
			}
		}
	})
	return err
}

// envName is the environment variable of a flag: KITH_RENDEZVOUS_ and the flag's name in
// upper case with dashes as underscores.
func envName(flagName string) string {
	return "KITH_RENDEZVOUS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}
