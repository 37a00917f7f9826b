package rendezvous

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous/metrics"
	"github.com/kithnet/kith/rendezvous/server"
	"github.com/kithnet/kith/rendezvous/store"
	"github.com/kithnet/kith/rendezvous/turn"
)

// Config is everything an instance needs; the command fills it from flags and
// KITH_RENDEZVOUS_* variables. Zero fields take the documented defaults.
type Config struct {
	// Listen is the gRPC address (--listen); ":7000" by default.
	Listen string
	// STUN is the UDP STUN/TURN address (--stun); ":3478" by default.
	STUN string
	// STUNAlt is a second UDP STUN/TURN address on the same host (--stun-alt); empty:
	// none. Peers bind to both from one socket and compare the mapped ports, which tells
	// an endpoint-dependent (symmetric) NAT from an endpoint-independent one (issue 20).
	STUNAlt string
	// RedisURL is redis://… or rediss://… (--redis); with master_name=… it names a
	// Sentinel deployment. Empty with no RedisCluster: the in-memory store.
	RedisURL string
	// RedisCluster lists Redis Cluster nodes host:port (--redis-cluster).
	RedisCluster []string
	// Name is the server's name (--name), which every signed registration and auth proof
	// must carry, so a proof taken from one server is refused by another; a random one
	// per process when empty.
	Name string
	// TURNSecret is the TURN REST-API secret (--turn-secret); empty disables TURN.
	TURNSecret string
	// TURNRelayIP is the IP relays are announced at (--turn-relay-ip); by default the
	// STUN address's IP, or 127.0.0.1 when that is unspecified.
	TURNRelayIP string
	// TURNAllowPrivate permits relaying to private and loopback peers (--turn-allow-private).
	TURNAllowPrivate bool
	// TURNQuota is the most allocations one user may hold; 8 by default.
	TURNQuota int
	// TURNPerIP is the most allocations one client address may hold; 4 by default.
	TURNPerIP int
	// TURNTotal is the most allocations this instance holds; 1024 by default.
	TURNTotal int
	// PublicHost is the host put in the stun:/turn: URIs given to peers (--public-host);
	// TURNRelayIP by default.
	PublicHost string
	// Metrics is the HTTP address of /metrics (--metrics); empty serves none.
	Metrics string
	// TLSCert and TLSKey are PEM files (--tls-cert, --tls-key); empty serves plaintext gRPC.
	TLSCert, TLSKey string
	// MaxMessageBytes bounds a gRPC message; 64 KiB by default.
	MaxMessageBytes int
	// MaxStreams bounds concurrent streams per connection; 16 by default.
	MaxStreams uint32
	// ListensPerIP bounds the Listen streams held for one client IP
	// (--max-listen-per-ip); 100 by default, negative: no bound.
	ListensPerIP int
	// Limits, RateLimit and Keepalive tune the service (server.Config).
	Limits    server.Limits
	RateLimit server.RateLimit
	Keepalive time.Duration
	// HealthInterval is how often the store is pinged to set the gRPC health status
	// (NOT_SERVING while Redis is unreachable); 2 s by default.
	HealthInterval time.Duration
	// MemoryLimit is the Go runtime's soft memory limit in bytes (--memory-limit), set by
	// Run for the whole process (the runtime has one): MemoryLimitAuto (0) keeps
	// GOMEMLIMIT when the environment sets it, else takes 90 % of the container's cgroup
	// limit, else none; MemoryLimitOff none at all. Start alone leaves it be.
	MemoryLimit int64
	// DrainTimeout bounds a graceful stop; 10 s by default.
	DrainTimeout time.Duration
	// Logger receives structured logs; slog.Default() when nil.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Store, when set, is used instead of one made from RedisURL/RedisCluster (tests).
	// Stop closes it.
	Store store.Store
}

// Instance is a running rendezvous.
type Instance struct {
	// GRPCAddr, STUNAddr and MetricsAddr are the bound addresses (MetricsAddr nil when off).
	GRPCAddr, STUNAddr, MetricsAddr net.Addr
	// STUNAltAddr is the second STUN address, nil when off.
	STUNAltAddr net.Addr

	cfg     Config
	log     *slog.Logger
	store   store.Store
	svc     *server.Server
	grpc    *grpc.Server
	health  *health.Server
	turn    *turn.Server
	http    *http.Server
	lis     net.Listener   // bound, not yet served
	pc      net.PacketConn // bound, not yet given to TURN
	pcAlt   net.PacketConn // bound, not yet given to TURN (nil: no --stun-alt)
	mlis    net.Listener   // bound, not yet served
	wg      sync.WaitGroup
	done    chan struct{} // closed by Stop, ends background loops
	errOnce sync.Once
	err     error
	stop    sync.Once
}

// Run sets the process's memory limit from cfg.MemoryLimit, serves cfg until ctx
// ends, then drains streams and stops.
func Run(ctx context.Context, cfg Config) error {
	limit, set, source := chooseMemoryLimit(cfg.MemoryLimit, os.Getenv("GOMEMLIMIT") != "", cgroupMemoryLimit(cgroupFiles))
	if set {
		debug.SetMemoryLimit(limit)
	}
	inst, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	if limit = debug.SetMemoryLimit(-1); limit == math.MaxInt64 {
		inst.log.Info("rendezvous: no memory limit; the heap may grow to twice what is live", "source", source)
	} else {
		inst.log.Info("rendezvous: memory limit", "bytes", limit, "source", source)
	}
	<-ctx.Done()
	inst.log.Info("rendezvous: shutting down")
	return inst.Stop()
}

// Start binds every socket of cfg and serves in the background until Stop. ctx bounds
// only the start (a first store ping); Stop ends the instance.
func Start(ctx context.Context, cfg Config) (_ *Instance, err error) {
	cfg = withDefaults(cfg)
	inst := &Instance{cfg: cfg, log: cfg.Logger, done: make(chan struct{})}
	defer func() {
		if err != nil {
			inst.closeAll()
		}
	}()
	if err := inst.openStore(); err != nil {
		return nil, err
	}
	if p, ok := inst.store.(pinger); ok {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := p.Ping(pctx); err != nil {
			// Not fatal: the instance is stateless and recovers when the store answers.
			inst.log.Warn("rendezvous: store unreachable at start; calls fail with Unavailable until it answers", "err", err)
		}
		cancel()
	}
	if err := inst.bind(); err != nil {
		return nil, err
	}
	m := metrics.New()
	if d, ok := inst.store.(interface{ Dropped() uint64 }); ok {
		m.ObserveDropped(d.Dropped)
	}
	relayIP := relayIP(cfg, inst.STUNAddr)
	grants := turn.NewGrants(0, cfg.Now)
	inst.turn, err = turn.Start(turn.Config{
		PacketConn: inst.pc, AltPacketConn: inst.pcAlt, RelayIP: relayIP, RelayBind: relayBind(relayIP), Secret: cfg.TURNSecret,
		AllowPrivate: cfg.TURNAllowPrivate, Quota: cfg.TURNQuota, PerIP: cfg.TURNPerIP, Total: cfg.TURNTotal,
		Grants: grants, Now: cfg.Now, Logger: cfg.Logger, Metrics: m,
	})
	if err != nil {
		return nil, err
	}
	inst.pc, inst.pcAlt = nil, nil // the TURN server owns them now
	stunURIs, turnURIs := uris(cfg, relayIP, inst.STUNAddr, inst.STUNAltAddr)
	inst.svc, err = server.New(server.Config{
		Store: inst.store, Logger: cfg.Logger, Now: cfg.Now, Limits: cfg.Limits, RateLimit: cfg.RateLimit,
		STUNURIs: stunURIs, TURNURIs: turnURIs, TURNSecret: cfg.TURNSecret, TURNGrants: grants, Keepalive: cfg.Keepalive, Metrics: m,
		Name: cfg.Name, ListensPerIP: cfg.ListensPerIP,
	})
	if err != nil {
		return nil, err
	}
	if err := inst.newGRPC(); err != nil {
		return nil, err
	}
	inst.serve(m)
	inst.log.Info("rendezvous: serving", "grpc", inst.GRPCAddr.String(), "stun", inst.STUNAddr.String(),
		"store", storeName(cfg), "turn", cfg.TURNSecret != "", "tls", cfg.TLSCert != "")
	return inst, nil
}

// bind opens the gRPC, STUN and metrics sockets, so a busy port fails Start before
// anything serves.
func (inst *Instance) bind() error {
	cfg := inst.cfg
	var err error
	if inst.lis, err = net.Listen("tcp", cfg.Listen); err != nil {
		return fmt.Errorf("--listen %s: %w", cfg.Listen, err)
	}
	inst.GRPCAddr = inst.lis.Addr()
	if inst.pc, err = net.ListenPacket("udp", cfg.STUN); err != nil {
		return fmt.Errorf("--stun %s: %w", cfg.STUN, err)
	}
	inst.STUNAddr = inst.pc.LocalAddr()
	if cfg.STUNAlt != "" {
		if inst.pcAlt, err = net.ListenPacket("udp", cfg.STUNAlt); err != nil {
			return fmt.Errorf("--stun-alt %s: %w", cfg.STUNAlt, err)
		}
		inst.STUNAltAddr = inst.pcAlt.LocalAddr()
	}
	if cfg.Metrics != "" {
		if inst.mlis, err = net.Listen("tcp", cfg.Metrics); err != nil {
			return fmt.Errorf("--metrics %s: %w", cfg.Metrics, err)
		}
		inst.MetricsAddr = inst.mlis.Addr()
	}
	return nil
}

// serve starts the gRPC and metrics servers on the bound sockets, and the store watch.
func (inst *Instance) serve(m *metrics.Metrics) {
	if p, ok := inst.store.(pinger); ok {
		inst.wg.Add(1)
		go inst.watchStore(p)
	}
	lis := inst.lis
	inst.lis = nil // the gRPC server owns it now
	inst.wg.Add(1)
	go func() {
		defer inst.wg.Done()
		if err := inst.grpc.Serve(lis); err != nil {
			inst.fail(fmt.Errorf("grpc: %w", err))
		}
	}()
	if inst.mlis == nil {
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	inst.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	mlis := inst.mlis
	inst.mlis = nil
	inst.wg.Add(1)
	go func() {
		defer inst.wg.Done()
		if err := inst.http.Serve(mlis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			inst.fail(fmt.Errorf("metrics: %w", err))
		}
	}()
}

func withDefaults(cfg Config) Config {
	if cfg.Listen == "" {
		cfg.Listen = ":7000"
	}
	if cfg.STUN == "" {
		cfg.STUN = ":3478"
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = 64 << 10
	}
	if cfg.MaxStreams == 0 {
		cfg.MaxStreams = 16
	}
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = 2 * time.Second
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg
}

func storeName(cfg Config) string {
	switch {
	case cfg.Store != nil:
		return "given"
	case len(cfg.RedisCluster) > 0:
		return "redis-cluster"
	case cfg.RedisURL != "":
		return "redis"
	}
	return "memory"
}

func (inst *Instance) openStore() error {
	cfg := inst.cfg
	switch {
	case cfg.Store != nil:
		inst.store = cfg.Store
	case cfg.RedisURL != "" || len(cfg.RedisCluster) > 0:
		r, err := store.Dial(cfg.RedisURL, cfg.RedisCluster)
		if err != nil {
			return err
		}
		inst.store = r
	default:
		inst.store = store.NewMemory(cfg.Now)
	}
	return nil
}

func (inst *Instance) newGRPC() error {
	cfg := inst.cfg
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxMessageBytes),
		grpc.MaxConcurrentStreams(cfg.MaxStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 2 * time.Minute, Timeout: 20 * time.Second}),
		grpc.ChainUnaryInterceptor(inst.svc.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(inst.svc.StreamInterceptor()),
	}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		creds, err := credentials.NewServerTLSFromFile(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		opts = append(opts, grpc.Creds(creds))
	}
	inst.grpc = grpc.NewServer(opts...)
	rendezvousv1.RegisterRendezvousServiceServer(inst.grpc, inst.svc)
	inst.health = health.NewServer()
	inst.setHealth(healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(inst.grpc, inst.health)
	reflection.Register(inst.grpc)
	return nil
}

func (inst *Instance) fail(err error) {
	inst.errOnce.Do(func() { inst.err = err })
	inst.log.Error("rendezvous: server failed", "err", err)
}

// TURNAllocations is how many TURN allocations the instance holds now.
func (inst *Instance) TURNAllocations() int { return inst.turn.Allocations() }

// Stop drains Listen streams, stops gracefully (forcibly after DrainTimeout), closes
// TURN, metrics and the store, and waits for every goroutine. It is idempotent.
func (inst *Instance) Stop() error {
	inst.stop.Do(func() {
		close(inst.done)
		if inst.health != nil {
			inst.health.Shutdown()
		}
		if inst.svc != nil {
			inst.svc.Drain()
		}
		if inst.grpc != nil {
			done := make(chan struct{})
			go func() { inst.grpc.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-time.After(inst.cfg.DrainTimeout):
				inst.log.Warn("rendezvous: drain timed out; stopping")
				inst.grpc.Stop()
				<-done
			}
		}
		inst.closeAll()
		inst.wg.Wait()
	})
	return inst.err
}

func (inst *Instance) closeAll() {
	if inst.lis != nil {
		inst.lis.Close()
	}
	if inst.pcAlt != nil {
		inst.pcAlt.Close()
	}
	if inst.pc != nil {
		inst.pc.Close()
	}
	if inst.mlis != nil {
		inst.mlis.Close()
	}
	if inst.http != nil {
		inst.http.Close()
	}
	if inst.turn != nil {
		inst.turn.Close()
	}
	if inst.store != nil {
		inst.store.Close()
	}
}
