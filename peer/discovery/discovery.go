// Package discovery is the peer's side of a rendezvous: it keeps a signed registration
// of the peer's candidates fresh, keeps a Listen stream open for offers, fails over
// between several rendezvous servers, and looks up and offers to friends — verifying
// every record it gets back, because a rendezvous is never trusted for authenticity.
package discovery

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// Errors a caller may test for.
var (
	// ErrNoServer means no rendezvous server could be reached.
	ErrNoServer = errors.New("no rendezvous server reachable")
	// ErrBadRecord means a record from the rendezvous failed verification.
	ErrBadRecord = errors.New("rendezvous returned a record that does not verify")
)

// Offer is a verified offer from another peer.
type Offer struct {
	// From is the key that signed the offer.
	From identity.PublicKey
	// Offer is the signed payload.
	Offer *rendezvousv1.Offer
	// Observed is the address the caller's rendezvous saw it at (unsigned: a hint).
	Observed string
}

// Config configures a Client. Zero values are safe defaults except Key and Servers.
type Config struct {
	// Key is the peer's identity key; it signs registrations, offers and auth proofs.
	Key *identity.Key
	// Servers are rendezvous gRPC addresses (host:port), tried in order.
	Servers []string
	// Candidates returns the peer's current candidates each time it registers.
	Candidates func() []*rendezvousv1.Candidate
	// OnOffer receives each verified offer addressed to this peer.
	OnOffer func(Offer)
	// TTL is the registration's lifetime; it is refreshed at half of it. Default 2 min.
	TTL time.Duration
	// DialOptions replace the default (plaintext) gRPC dial options, e.g. for TLS.
	DialOptions []grpc.DialOption
	// Backoff bounds the wait before retrying after a failure. Default 1 s to 30 s.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives operational logs. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Status is what the client knows right now.
type Status struct {
	// Server is the rendezvous in use, if any.
	Server string
	// Registered is true while a registration is current.
	Registered bool
	// Observed is this peer's address as the rendezvous saw it.
	Observed string
	// StunURIs and TurnURIs came with the last registration.
	StunURIs, TurnURIs []string
	// Tried is the server of the last failed session and Err why it failed (kept until
	// a registration succeeds), so a person sees which rendezvous is unreachable.
	Tried, Err string
}

// Client is a peer's connection to its rendezvous servers.
type Client struct {
	cfg Config

	mu     sync.Mutex
	status Status
	conns  map[string]*grpc.ClientConn
	kick   chan struct{}
}

// New checks cfg and returns a Client; Run makes it work.
func New(cfg Config) (*Client, error) {
	if cfg.Key == nil {
		return nil, errors.New("discovery: no key")
	}
	if len(cfg.Servers) == 0 {
		return nil, errors.New("discovery: no rendezvous servers")
	}
	for _, s := range cfg.Servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return nil, fmt.Errorf("discovery: rendezvous %q: want host:port", s)
		}
	}
	if cfg.TTL == 0 {
		cfg.TTL = 2 * time.Minute
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Candidates == nil {
		cfg.Candidates = func() []*rendezvousv1.Candidate { return nil }
	}
	if cfg.DialOptions == nil {
		cfg.DialOptions = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	return &Client{cfg: cfg, conns: map[string]*grpc.ClientConn{}, kick: make(chan struct{}, 1)}, nil
}

// Status returns a copy of the client's status.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Refresh asks Run to register again now (the candidates changed).
func (c *Client) Refresh() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Run keeps a registration and a Listen stream on one server, moving to the next server
// when that one fails, until ctx ends. It returns ctx's error.
func (c *Client) Run(ctx context.Context) error {
	defer c.closeConns()
	backoff := c.cfg.MinBackoff
	for i := 0; ; i = (i + 1) % len(c.cfg.Servers) {
		server := c.cfg.Servers[i]
		start := c.cfg.Now()
		err := c.session(ctx, server)
		c.setStatus(func(s *Status) {
			s.Registered = false
			if err != nil && ctx.Err() == nil {
				s.Tried, s.Err = server, err.Error()
			}
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if c.cfg.Now().Sub(start) > 2*c.cfg.MaxBackoff {
			backoff = c.cfg.MinBackoff // it worked for a while: start over gently
		}
		c.cfg.Logger.Warn("rendezvous session ended; trying the next server", "server", server, "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

// session registers with one server, keeps Listen open and refreshes the registration,
// until something fails.
func (c *Client) session(ctx context.Context, server string) error {
	cl, err := c.client(server)
	if err != nil {
		return err
	}
	if err := c.register(ctx, cl, server); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	listenErr := make(chan error, 1)
	go func() { listenErr <- c.listen(ctx, cl) }()
	refresh := time.NewTicker(c.cfg.TTL / 2)
	defer refresh.Stop()
	for {
		select {
		case <-ctx.Done():
			<-listenErr
			return ctx.Err()
		case err := <-listenErr:
			return fmt.Errorf("listen: %w", err)
		case <-refresh.C:
		case <-c.kick:
		}
		if err := c.register(ctx, cl, server); err != nil {
			cancel()
			<-listenErr
			return err
		}
	}
}

func (c *Client) register(ctx context.Context, cl rendezvousv1.RendezvousServiceClient, server string) error {
	reg := &rendezvousv1.Registration{
		PublicKey:       c.cfg.Key.Public().Bytes(),
		Candidates:      c.cfg.Candidates(),
		TimestampUnixMs: c.cfg.Now().UnixMilli(),
		TtlSeconds:      uint32(c.cfg.TTL / time.Second),
	}
	env, err := signed.Seal(c.cfg.Key, identity.ContextRegistration, reg)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := cl.Register(rctx, &rendezvousv1.RegisterRequest{Record: env})
	if err != nil {
		return fmt.Errorf("register with %s: %w", server, err)
	}
	c.setStatus(func(s *Status) {
		*s = Status{Server: server, Registered: true, Observed: resp.GetObservedAddress(),
			StunURIs: resp.GetStunUris(), TurnURIs: resp.GetTurnUris()}
	})
	c.cfg.Logger.Debug("registered", "server", server, "candidates", len(reg.Candidates), "observed", resp.GetObservedAddress())
	return nil
}

func (c *Client) listen(ctx context.Context, cl rendezvousv1.RendezvousServiceClient) error {
	auth, err := c.auth(identity.ContextListen)
	if err != nil {
		return err
	}
	stream, err := cl.Listen(ctx, &rendezvousv1.ListenRequest{Auth: auth})
	if err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return errors.New("stream closed by the server")
		}
		if err != nil {
			return err
		}
		if msg.GetOffer() == nil {
			continue // keepalive
		}
		var offer rendezvousv1.Offer
		from, err := signed.Open(msg.GetOffer(), identity.ContextOffer, &offer)
		if err == nil {
			err = signed.CheckKeyField(from, offer.GetPublicKey())
		}
		if err == nil && offer.GetTargetFingerprint() != string(c.cfg.Key.Public().Fingerprint()) {
			err = errors.New("offer is for someone else")
		}
		if err != nil {
			c.cfg.Logger.Warn("dropped an offer that does not verify", "err", err)
			continue
		}
		if c.cfg.OnOffer != nil {
			c.cfg.OnOffer(Offer{From: from, Offer: &offer, Observed: msg.GetObservedAddress()})
		}
	}
}

// auth signs a fresh proof of key possession under ctx.
func (c *Client) auth(ctx identity.Context) (*signedv1.Envelope, error) {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	return signed.Seal(c.cfg.Key, ctx, &rendezvousv1.Auth{
		PublicKey: c.cfg.Key.Public().Bytes(), TimestampUnixMs: c.cfg.Now().UnixMilli(), Nonce: nonce})
}

// Lookup fetches a peer's registration and verifies that the peer signed it.
func (c *Client) Lookup(ctx context.Context, peer identity.PublicKey) (*rendezvousv1.Registration, error) {
	var out *rendezvousv1.Registration
	err := c.onAnyServer(ctx, func(ctx context.Context, cl rendezvousv1.RendezvousServiceClient) error {
		resp, err := cl.Lookup(ctx, &rendezvousv1.LookupRequest{Fingerprint: string(peer.Fingerprint())})
		if err != nil {
			return err
		}
		out, err = verifyRecord(resp.GetRecord(), peer)
		return err
	})
	return out, err
}

// Connect sends a signed offer with our candidates to peer and returns peer's verified
// registration. nonce identifies the attempt on both sides.
func (c *Client) Connect(ctx context.Context, peer identity.PublicKey, kind rendezvousv1.OfferKind, cands []*rendezvousv1.Candidate, nonce []byte) (*rendezvousv1.Registration, error) {
	offer, err := signed.Seal(c.cfg.Key, identity.ContextOffer, &rendezvousv1.Offer{
		PublicKey: c.cfg.Key.Public().Bytes(), TargetFingerprint: string(peer.Fingerprint()),
		Candidates: cands, TimestampUnixMs: c.cfg.Now().UnixMilli(), Nonce: nonce, Kind: kind})
	if err != nil {
		return nil, err
	}
	var out *rendezvousv1.Registration
	err = c.onAnyServer(ctx, func(ctx context.Context, cl rendezvousv1.RendezvousServiceClient) error {
		resp, err := cl.Connect(ctx, &rendezvousv1.ConnectRequest{TargetFingerprint: string(peer.Fingerprint()), Offer: offer})
		if err != nil {
			return err
		}
		out, err = verifyRecord(resp.GetRecord(), peer)
		return err
	})
	return out, err
}

// TurnCredentials asks the current server for TURN credentials.
func (c *Client) TurnCredentials(ctx context.Context) (*rendezvousv1.TurnCredentialsResponse, error) {
	var out *rendezvousv1.TurnCredentialsResponse
	err := c.onAnyServer(ctx, func(ctx context.Context, cl rendezvousv1.RendezvousServiceClient) error {
		auth, err := c.auth(identity.ContextTurnCredentials)
		if err != nil {
			return err
		}
		out, err = cl.TurnCredentials(ctx, &rendezvousv1.TurnCredentialsRequest{Auth: auth})
		return err
	})
	return out, err
}

// verifyRecord checks that env is a registration signed by peer, naming peer inside.
func verifyRecord(env *signedv1.Envelope, peer identity.PublicKey) (*rendezvousv1.Registration, error) {
	var reg rendezvousv1.Registration
	if err := signed.OpenFrom(env, identity.ContextRegistration, peer, &reg); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	if err := signed.CheckKeyField(peer, reg.GetPublicKey()); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	return &reg, nil
}

// onAnyServer runs f on the server in use, then on the others, until one answers.
func (c *Client) onAnyServer(ctx context.Context, f func(context.Context, rendezvousv1.RendezvousServiceClient) error) error {
	servers := c.ordered()
	var errs []error
	for _, s := range servers {
		cl, err := c.client(s)
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = f(cctx, cl)
			cancel()
			if err == nil || errors.Is(err, ErrBadRecord) || !retryable(err) {
				return err
			}
		}
		errs = append(errs, fmt.Errorf("%s: %w", s, err))
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("%w: %w", ErrNoServer, errors.Join(errs...))
}

// ordered lists the servers, the one in use first.
func (c *Client) ordered() []string {
	cur := c.Status().Server
	out := []string{}
	if cur != "" {
		out = append(out, cur)
	}
	for _, s := range c.cfg.Servers {
		if s != cur {
			out = append(out, s)
		}
	}
	return out
}

func (c *Client) client(server string) (rendezvousv1.RendezvousServiceClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	conn := c.conns[server]
	if conn == nil {
		var err error
		if conn, err = grpc.NewClient(server, c.cfg.DialOptions...); err != nil {
			return nil, fmt.Errorf("rendezvous %s: %w", server, err)
		}
		c.conns[server] = conn
	}
	return rendezvousv1.NewRendezvousServiceClient(conn), nil
}

func (c *Client) closeConns() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for s, conn := range c.conns {
		conn.Close()
		delete(c.conns, s)
	}
}

func (c *Client) setStatus(f func(*Status)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(&c.status)
}
