// Package server is the rendezvous's gRPC service: it validates signed requests, calls
// the store, and turns every failure into a status that says what was wrong (errors.go).
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc/peer"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/rendezvous/metrics"
	"github.com/kithnet/kith/rendezvous/store"
	"github.com/kithnet/kith/rendezvous/turn"
	"github.com/kithnet/kith/shared/identity"
)

// Config configures the service. Zero fields take the documented defaults.
type Config struct {
	// Store holds records and carries offers; required.
	Store store.Store
	// Logger receives structured logs; slog.Default() when nil.
	Logger *slog.Logger
	// Now is the clock for timestamps and credential expiry; time.Now when nil.
	Now func() time.Time
	// Limits bound what a signed request may contain; zero fields take DefaultLimits'.
	Limits Limits
	// RateLimit bounds requests per client IP and per fingerprint.
	RateLimit RateLimit
	// STUNURIs and TURNURIs are returned to registering peers ("stun:host:3478").
	STUNURIs, TURNURIs []string
	// TURNSecret is the shared secret of TURN REST credentials; empty disables TurnCredentials.
	TURNSecret string
	// TURNGrants, when set, hears of every delivered offer, so this instance's TURN server
	// relays only for a client connecting to a listening peer, and only towards it.
	TURNGrants *turn.Grants
	// TURNCredentialTTL is how long TURN credentials stay valid; 1 hour by default.
	TURNCredentialTTL time.Duration
	// Keepalive is how often an idle Listen stream gets an empty message; 20 s by default.
	Keepalive time.Duration
	// Metrics receives counters; nil records nothing.
	Metrics *metrics.Metrics
	// Name is this server's name: signed registrations and auth proofs must carry it, so
	// one taken from another server is refused. A random name when empty.
	Name string
	// ListensPerIP bounds the Listen streams this instance holds for one client IP, so
	// that fresh keys from one address cannot exhaust it; 100 by default, negative: no
	// bound. It counts in process (each instance its own), costing no store call.
	ListensPerIP int
}

// RateLimit is a fixed-window budget, shared through the store (so through Redis when
// the store is Redis). Zero fields take defaults; a negative limit disables it.
type RateLimit struct {
	// PerIP bounds requests from one client IP per Window; 1200 by default.
	PerIP int
	// PerFingerprint bounds signed requests of one key per Window; 120 by default.
	PerFingerprint int
	// PerTarget bounds sealed offers to one target per Window (their callers are
	// hidden, so they are charged to the target and to the client IP); 120 by default.
	PerTarget int
	// Window is the counting window; one minute by default.
	Window time.Duration
}

// DefaultLimits are the bounds: ±60 s clock window, TTL clamped to [30 s, 10 min],
// at most 16 candidates, 4 KiB signed payloads.
var DefaultLimits = Limits{
	ClockWindow: 60 * time.Second, MinTTL: 30 * time.Second, MaxTTL: 10 * time.Minute,
	MaxCandidates: 16, MaxPayload: 4 << 10,
}

// Server implements RendezvousServiceServer.
type Server struct {
	rendezvousv1.UnimplementedRendezvousServiceServer

	cfg   Config
	log   *slog.Logger
	store store.Store
	drain chan struct{}
	once  sync.Once

	listens     listenAddrs    // Listen streams' sources, for TURN grants (relaygrant.go)
	listenMu    sync.Mutex     // guards listensByIP
	listensByIP map[string]int // open Listen streams by client IP
	ips         *ipBudget      // per-IP budget, charged in chunks
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("rendezvous server: Config.Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Limits.ClockWindow = orDur(cfg.Limits.ClockWindow, DefaultLimits.ClockWindow)
	cfg.Limits.MinTTL = orDur(cfg.Limits.MinTTL, DefaultLimits.MinTTL)
	cfg.Limits.MaxTTL = orDur(cfg.Limits.MaxTTL, DefaultLimits.MaxTTL)
	cfg.Limits.MaxCandidates = orInt(cfg.Limits.MaxCandidates, DefaultLimits.MaxCandidates)
	cfg.Limits.MaxPayload = orInt(cfg.Limits.MaxPayload, DefaultLimits.MaxPayload)
	cfg.RateLimit.PerIP = orInt(cfg.RateLimit.PerIP, 1200)
	cfg.RateLimit.PerFingerprint = orInt(cfg.RateLimit.PerFingerprint, 120)
	cfg.RateLimit.PerTarget = orInt(cfg.RateLimit.PerTarget, 120)
	cfg.RateLimit.Window = orDur(cfg.RateLimit.Window, time.Minute)
	cfg.TURNCredentialTTL = orDur(cfg.TURNCredentialTTL, time.Hour)
	cfg.Keepalive = orDur(cfg.Keepalive, 20*time.Second)
	if cfg.Name == "" {
		cfg.Name = "rdv-" + rand.Text()[:12]
	}
	cfg.Limits.Server = cfg.Name
	cfg.ListensPerIP = orInt(cfg.ListensPerIP, 100)
	st := timed{s: cfg.Store, m: cfg.Metrics}
	return &Server{
		cfg: cfg, log: cfg.Logger, drain: make(chan struct{}), store: st, listensByIP: map[string]int{},
		ips: newIPBudget(st, cfg.RateLimit.PerIP, cfg.RateLimit.Window, cfg.Now),
	}, nil
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orDur(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// Drain ends every Listen stream with Unavailable, so a graceful stop can finish.
func (s *Server) Drain() { s.once.Do(func() { close(s.drain) }) }

// observed is the caller's address as this server sees it.
func observed(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// allowFingerprint charges a signed request to its key.
func (s *Server) allowFingerprint(ctx context.Context, fp identity.Fingerprint) error {
	limit := s.cfg.RateLimit.PerFingerprint
	if limit < 0 {
		return nil
	}
	ok, err := s.store.AllowKey(ctx, fp, limit, s.cfg.RateLimit.Window)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w (%d requests per %s for fp:%s)", ErrRateLimited, limit, s.cfg.RateLimit.Window, fp)
	}
	return nil
}

// allowTarget charges a sealed offer to its target: the caller is sealed inside, so the
// target's budget (with the client IP's, charged by the interceptor) is what bounds a
// flood of offers at one person.
func (s *Server) allowTarget(ctx context.Context, target identity.Fingerprint) error {
	limit := s.cfg.RateLimit.PerTarget
	if limit < 0 {
		return nil
	}
	ok, err := s.store.Allow(ctx, "to:"+string(target), limit, s.cfg.RateLimit.Window)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w (%d offers per %s for to:%s)", ErrRateLimited, limit, s.cfg.RateLimit.Window, target)
	}
	return nil
}

// claimNonce refuses a signed proof used before; it is remembered for twice the clock
// window, longer than any timestamp stays fresh.
func (s *Server) claimNonce(ctx context.Context, kind string, fp identity.Fingerprint, nonce []byte) error {
	ok, err := s.store.Claim(ctx, fmt.Sprintf("n:%s:%s:%x", fp, kind, nonce), 2*s.cfg.Limits.ClockWindow)
	if err != nil {
		return err
	}
	if !ok {
		return ErrReplayedNonce
	}
	return nil
}

// authenticate verifies a signed Auth under c for op, charges the key's rate limit and
// claims the Auth's nonce, so a captured proof cannot be replayed. It returns who the
// proof speaks for: the identity, or one device of a person (devices.go).
func (s *Server) authenticate(ctx context.Context, env *signedv1.Envelope, c identity.Context, op string) (*rendezvousv1.Auth, principal, error) {
	a, signer, err := s.cfg.Limits.Auth(env, c, s.cfg.Now())
	if err != nil {
		return nil, principal{}, fmt.Errorf("%s: %w", op, err)
	}
	fp := signer.Fingerprint()
	if err := s.allowFingerprint(ctx, fp); err != nil {
		return nil, principal{fp: fp}, fmt.Errorf("%s %s: %w", op, fp, err)
	}
	if err := s.claimNonce(ctx, string(c), fp, a.GetNonce()); err != nil {
		return nil, principal{fp: fp}, fmt.Errorf("%s %s: %w", op, fp, err)
	}
	p, err := deviceOf(signer, a.GetDeviceId(), a.GetDeviceCertificate(), s.cfg.Now())
	if err != nil {
		return nil, principal{fp: fp}, fmt.Errorf("%s %s: %w", op, fp, err)
	}
	return a, p, nil
}

// ServerInfo implements RendezvousServiceServer: the name proofs must carry here, and
// where STUN is, for a peer's binding before its first registration.
func (s *Server) ServerInfo(context.Context, *rendezvousv1.ServerInfoRequest) (*rendezvousv1.ServerInfoResponse, error) {
	return &rendezvousv1.ServerInfoResponse{Name: s.cfg.Name, Version: rendezvousv1.RecordVersion_RECORD_VERSION_2, StunUris: s.cfg.STUNURIs}, nil
}

// Register implements RendezvousServiceServer.
func (s *Server) Register(ctx context.Context, req *rendezvousv1.RegisterRequest) (*rendezvousv1.RegisterResponse, error) {
	reg, signer, ttl, err := s.cfg.Limits.Registration(req.GetRecord(), s.cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	fp := signer.Fingerprint()
	if err := s.allowFingerprint(ctx, fp); err != nil {
		return nil, fmt.Errorf("register %s: %w", fp, err)
	}
	p, err := deviceOf(signer, reg.GetDeviceId(), reg.GetDeviceCertificate(), s.cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", fp, err)
	}
	env, err := encodeStored(req.GetRecord())
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", p, err)
	}
	if err := s.put(ctx, p, store.Record{Envelope: env, TimestampMs: reg.GetTimestampUnixMs()}, ttl); err != nil {
		return nil, fmt.Errorf("register %s: %w", p, err)
	}
	s.cfg.Metrics.Registered()
	return &rendezvousv1.RegisterResponse{
		ObservedAddress: observed(ctx),
		TtlSeconds:      uint32(ttl / time.Second),
		StunUris:        s.cfg.STUNURIs,
		TurnUris:        s.cfg.TURNURIs,
	}, nil
}

// record loads fp's stored envelope.
func (s *Server) record(ctx context.Context, fp identity.Fingerprint) (*signedv1.Envelope, error) {
	rec, err := s.store.Get(ctx, fp)
	if err != nil {
		return nil, err
	}
	return decodeStored(rec.Envelope)
}

// Lookup implements RendezvousServiceServer.
func (s *Server) Lookup(ctx context.Context, req *rendezvousv1.LookupRequest) (*rendezvousv1.LookupResponse, error) {
	fp, err := identity.ParseFingerprint(req.GetFingerprint())
	if err != nil {
		return nil, fmt.Errorf("lookup: %w", err)
	}
	env, err := s.record(ctx, fp)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("lookup %s: %w", fp, err)
	}
	ds, derr := s.devices(ctx, fp)
	if derr != nil {
		return nil, fmt.Errorf("lookup %s: %w", fp, derr)
	}
	devs, derr := envelopes(fp, ds)
	if derr != nil {
		return nil, fmt.Errorf("lookup %s: %w", fp, derr)
	}
	if env == nil {
		env = newestOf(ds, devs)
	}
	if env == nil {
		s.cfg.Metrics.Lookup("not_found")
		return nil, fmt.Errorf("lookup %s: %w", fp, err)
	}
	s.cfg.Metrics.Lookup("found")
	return &rendezvousv1.LookupResponse{Record: env, Devices: devs}, nil
}

// Unregister implements RendezvousServiceServer.
func (s *Server) Unregister(ctx context.Context, req *rendezvousv1.UnregisterRequest) (*rendezvousv1.UnregisterResponse, error) {
	a, p, err := s.authenticate(ctx, req.GetAuth(), identity.ContextUnregister, "unregister")
	if err != nil {
		return nil, err
	}
	if p.device == nil {
		err = s.store.Delete(ctx, p.fp, a.GetTimestampUnixMs())
	} else {
		err = s.store.DeleteDevice(ctx, p.fp, p.device, a.GetTimestampUnixMs())
	}
	if err != nil {
		return nil, fmt.Errorf("unregister %s: %w", p, err)
	}
	return &rendezvousv1.UnregisterResponse{}, nil
}

// TurnCredentials implements RendezvousServiceServer.
func (s *Server) TurnCredentials(ctx context.Context, req *rendezvousv1.TurnCredentialsRequest) (*rendezvousv1.TurnCredentialsResponse, error) {
	if s.cfg.TURNSecret == "" {
		return nil, fmt.Errorf("turn credentials: %w", ErrTURNDisabled)
	}
	_, p, err := s.authenticate(ctx, req.GetAuth(), identity.ContextTurnCredentials, "turn credentials")
	if err != nil {
		return nil, err
	}
	if err := s.registered(ctx, p); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = ErrNotRegistered
		}
		return nil, fmt.Errorf("turn credentials %s: %w", p, err)
	}
	// Quota is per person: a person's devices share one TURN budget.
	user, pass := turn.Credentials(s.cfg.TURNSecret, string(p.fp), s.cfg.Now().Add(s.cfg.TURNCredentialTTL))
	return &rendezvousv1.TurnCredentialsResponse{
		Username: user, Password: pass,
		TtlSeconds: uint32(s.cfg.TURNCredentialTTL / time.Second), Uris: s.cfg.TURNURIs,
	}, nil
}

// hostOf is the IP part of a peer address, for per-IP limits.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
