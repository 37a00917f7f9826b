// Package discovery is the peer's side of a rendezvous: it keeps a signed registration
// of the peer's candidates fresh, keeps a Listen stream open for offers, fails over
// between several rendezvous servers, and looks up and offers to friends — verifying
// every record it gets back, because a rendezvous is never trusted for authenticity.
package discovery

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

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

// Offer is a verified offer from another peer, opened from its seal.
type Offer struct {
	// From is the key that signed the offer.
	From identity.PublicKey
	// Person is whom From speaks for: From itself, or the identity that certified From
	// as its device (the chain checked, revocations not: the handshake checks those).
	Person identity.PublicKey
	// Offer is the signed payload; its PunchSecret keys the attempt's punch packets.
	Offer *rendezvousv1.Offer
	// Observed is the address the caller's rendezvous saw it at (unsigned: a hint).
	Observed string
}

// Config configures a Client. Zero values are safe defaults except Key and Servers.
type Config struct {
	// Key is the peer's identity key; it signs registrations, offers and auth proofs.
	Key *identity.Key
	// Servers are rendezvous gRPC addresses, tried in order: "host:port" in plaintext,
	// or "tls://host:port" verified against RootCAs.
	Servers []string
	// RootCAs verifies tls:// servers; nil: the system roots.
	RootCAs *x509.CertPool
	// Candidates returns the peer's current candidates each time it registers.
	Candidates func() []*rendezvousv1.Candidate
	// ReachKey returns the person's current reachability key, under which the
	// candidates are sealed for friends; nil or an empty key: none are sealed.
	ReachKey func() []byte
	// Public reports, each time the peer registers, whether its candidates are also
	// published in plain for strangers (the person chose it and has a public post).
	Public func() bool
	// OnOffer receives each verified offer addressed to this peer.
	OnOffer func(Offer)
	// BeforeRegister, when set, is called once per session before the first
	// registration with the server's stun: URIs (from ServerInfo), so the peer can learn
	// its reflexive address first; the registration waits for it to return.
	BeforeRegister func(ctx context.Context, server string, stunURIs []string)
	// TTL is the registration's lifetime; it is refreshed at half of it. Default 2 min.
	TTL time.Duration
	// DialOptions replace the default gRPC dial options (plaintext, or TLS for tls://
	// servers), e.g. for tests; keepalive and connection parameters given here override
	// the client's own (Client.liveness).
	DialOptions []grpc.DialOption
	// Backoff bounds the wait before retrying after a failure. Default 1 s to 30 s.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives operational logs. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// DeviceID and DeviceCertificate, when Key is a device key (issue 16), name the
	// device and carry the certificate its person's identity signed for it: the client
	// then registers and listens as that one device of the person (devices.go).
	DeviceID          []byte
	DeviceCertificate *signedv1.Envelope
	// Mapping, when set, says in every offer and answer how this peer's NAT maps its
	// socket (issue 20: the birthday method); nil: unspecified.
	Mapping func() rendezvousv1.Mapping
}

// Status is what the client knows right now.
type Status struct {
	// Server is the rendezvous in use, if any.
	Server string
	// Registered is true while a registration is current.
	Registered bool
	// Listening is true while the Listen stream is open (the server confirmed it):
	// only then can offers and answers reach this peer.
	Listening bool
	// Observed is this peer's address as the rendezvous saw it.
	Observed string
	// Public is true when the current registration carries candidates in plain, so a
	// stranger can look this peer up (--publish-addresses and a public post).
	Public bool
	// StunURIs and TurnURIs came with the last registration.
	StunURIs, TurnURIs []string
	// Tried is the server of the last failed session and Err why it failed (kept until
	// a registration succeeds), so a person sees which rendezvous is unreachable.
	Tried, Err string
}

// Client is a peer's connection to its rendezvous servers.
type Client struct {
	cfg Config
	// person is whom the client speaks for: Key's own, or the identity of Key's device.
	person identity.PublicKey
	// self is Key as the age identity sealed offers open with (ageIdentity).
	self age.Identity

	mu     sync.Mutex // guards status, conns, names, seen, lastTs
	status Status
	conns  map[string]*grpc.ClientConn
	names  map[string]string    // server -> the name it announced (ServerInfo)
	seen   map[string]time.Time // sealed offers' nonces already delivered -> when to forget them
	kick   chan struct{}
	lastTs int64 // the newest registration's timestamp (ms): the next one is newer
}

// offerWindow is how far an offer's timestamp may lie from our clock, and half of how
// long its nonce is remembered: as the rendezvous' own window.
const offerWindow = 60 * time.Second

// scheme splits a server entry into its dial address and whether it wants TLS.
func scheme(server string) (addr string, tls bool, err error) {
	addr, tls = strings.CutPrefix(server, "tls://")
	if strings.Contains(addr, "://") {
		return "", false, fmt.Errorf("discovery: rendezvous %q: want HOST:PORT or tls://HOST:PORT", server)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", false, fmt.Errorf("discovery: rendezvous %q: want HOST:PORT or tls://HOST:PORT", server)
	}
	return addr, tls, nil
}

// Addr is a server entry's host:port, without its tls:// scheme.
func Addr(server string) string {
	addr, _ := strings.CutPrefix(server, "tls://")
	return addr
}

// Loopback reports whether a server entry names a loopback host (localhost or a
// loopback IP): plaintext there crosses no network.
func Loopback(server string) bool {
	host, _, err := net.SplitHostPort(Addr(server))
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
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
		if _, _, err := scheme(s); err != nil {
			return nil, err
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
	if cfg.ReachKey == nil {
		cfg.ReachKey = func() []byte { return nil }
	}
	if cfg.Public == nil {
		cfg.Public = func() bool { return false }
	}
	for _, s := range cfg.Servers {
		if _, tls, _ := scheme(s); !tls && !Loopback(s) && cfg.DialOptions == nil {
			cfg.Logger.Warn("the rendezvous is plaintext beyond loopback: anyone on the way sees which IDs this node registers and looks up; use tls://HOST:PORT", "server", s)
			break // once
		}
	}
	person, err := deviceConfig(cfg)
	if err != nil {
		return nil, err
	}
	self, err := ageIdentity(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	return &Client{cfg: cfg, person: person, self: self, conns: map[string]*grpc.ClientConn{}, names: map[string]string{},
		seen: map[string]time.Time{}, kick: make(chan struct{}, 1)}, nil
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
	c.mu.Lock()
	delete(c.names, server) // a server restarted with a new name since: ask again
	c.mu.Unlock()
	if c.cfg.BeforeRegister != nil {
		ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := cl.ServerInfo(ictx, &rendezvousv1.ServerInfoRequest{})
		cancel()
		if err == nil {
			c.cfg.BeforeRegister(ctx, server, resp.GetStunUris())
		}
	}
	if err := c.register(ctx, cl, server); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	listenErr := make(chan error, 1)
	go func() { listenErr <- c.listen(ctx, cl, server) }()
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

// name returns the name server announces, asking it once per session.
func (c *Client) name(ctx context.Context, cl rendezvousv1.RendezvousServiceClient, server string) (string, error) {
	c.mu.Lock()
	name, ok := c.names[server]
	c.mu.Unlock()
	if ok {
		return name, nil
	}
	resp, err := cl.ServerInfo(ctx, &rendezvousv1.ServerInfoRequest{})
	if err != nil {
		return "", fmt.Errorf("server info of %s: %w", server, err)
	}
	if resp.GetVersion() != rendezvousv1.RecordVersion_RECORD_VERSION_2 || resp.GetName() == "" {
		return "", fmt.Errorf("rendezvous %s speaks record version %d (name %q); this peer needs version 2", server, resp.GetVersion(), resp.GetName())
	}
	c.mu.Lock()
	c.names[server] = resp.GetName()
	c.mu.Unlock()
	return resp.GetName(), nil
}

// forgetName drops server's name when it refused a proof as signed for another server
// (it restarted with a new name): the next proof asks again.
func (c *Client) forgetName(server string, err error) {
	if status.Code(err) == codes.InvalidArgument && strings.Contains(status.Convert(err).Message(), "signed for another rendezvous server") {
		c.mu.Lock()
		delete(c.names, server)
		c.mu.Unlock()
	}
}

// nextTimestamp is the time for a new registration in ms: now, or one past the last
// one when that is not older. The rendezvous keeps only a strictly newer record, so two
// registrations within one millisecond (a refresh right after the first, when the
// candidates changed) would otherwise end the session with "record is not newer".
func (c *Client) nextTimestamp() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastTs = max(c.cfg.Now().UnixMilli(), c.lastTs+1)
	return c.lastTs
}

// registration signs our record for the server named name: candidates sealed under the
// reachability key for friends, and in plain only when the person publishes them.
func (c *Client) registration(name string) (*rendezvousv1.Registration, *signedv1.Envelope, error) {
	cands := c.cfg.Candidates()
	self := c.cfg.Key.Public()
	reg := &rendezvousv1.Registration{
		PublicKey:         self.Bytes(),
		TimestampUnixMs:   c.nextTimestamp(),
		TtlSeconds:        uint32(c.cfg.TTL / time.Second),
		Version:           rendezvousv1.RecordVersion_RECORD_VERSION_2,
		Server:            name,
		DeviceId:          c.cfg.DeviceID,
		DeviceCertificate: c.cfg.DeviceCertificate,
	}
	if key := c.cfg.ReachKey(); len(key) > 0 && len(cands) > 0 {
		sealed, err := SealReachability(key, self, reg.TimestampUnixMs, cands)
		if err != nil {
			return nil, nil, err
		}
		reg.Reachability = sealed
	}
	if c.cfg.Public() {
		reg.PublicCandidates = cands
	}
	env, err := signed.Seal(c.cfg.Key, identity.ContextRegistration, reg)
	return reg, env, err
}

func (c *Client) register(ctx context.Context, cl rendezvousv1.RendezvousServiceClient, server string) error {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	name, err := c.name(rctx, cl, server)
	if err != nil {
		return err
	}
	reg, env, err := c.registration(name)
	if err != nil {
		return err
	}
	resp, err := cl.Register(rctx, &rendezvousv1.RegisterRequest{Record: env})
	if err != nil {
		return fmt.Errorf("register with %s: %w", server, err)
	}
	c.setStatus(func(s *Status) {
		*s = Status{Server: server, Registered: true, Observed: resp.GetObservedAddress(),
			Public: len(reg.PublicCandidates) > 0, StunURIs: resp.GetStunUris(), TurnURIs: resp.GetTurnUris(), Listening: s.Listening && s.Server == server}
	})
	c.cfg.Logger.Debug("registered", "server", server, "sealed", reg.Reachability != nil, "public", len(reg.PublicCandidates) > 0, "observed", resp.GetObservedAddress())
	return nil
}

func (c *Client) listen(ctx context.Context, cl rendezvousv1.RendezvousServiceClient, server string) error {
	auth, err := c.auth(ctx, cl, server, identity.ContextListen)
	if err != nil {
		return err
	}
	stream, err := cl.Listen(ctx, &rendezvousv1.ListenRequest{Auth: auth})
	if err != nil {
		return err
	}
	defer c.setStatus(func(s *Status) { s.Listening = false })
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return errors.New("stream closed by the server")
		}
		if err != nil {
			return err
		}
		c.setStatus(func(s *Status) { s.Listening = true }) // the server's first message says it subscribed
		if msg.GetOffer() == nil {
			continue // keepalive
		}
		from, offer, err := c.open(msg.GetOffer())
		if err != nil {
			c.cfg.Logger.Warn("dropped an offer", "err", err)
			continue
		}
		person, err := callerPerson(from, offer, c.cfg.Now())
		if err != nil {
			c.cfg.Logger.Warn("dropped an offer from a device that does not chain to its person", "err", err)
			continue
		}
		if c.cfg.OnOffer != nil {
			c.cfg.OnOffer(Offer{From: from, Person: person, Offer: offer, Observed: msg.GetObservedAddress()})
		}
	}
}

// open opens a sealed offer for us and refuses a stale or replayed one: the rendezvous
// claims each nonce too, but it could not tell a re-stamped frame around an old body
// (only we can read the signed timestamp and nonce inside).
func (c *Client) open(so *rendezvousv1.SealedOffer) (identity.PublicKey, *rendezvousv1.Offer, error) {
	from, offer, err := openOfferAs(c.self, c.person, so)
	if err != nil {
		return from, nil, err
	}
	now := c.cfg.Now()
	if d := now.Sub(time.UnixMilli(offer.GetTimestampUnixMs())); d > offerWindow || d < -offerWindow {
		return from, nil, fmt.Errorf("%w: from %s, stamped %s away from our clock", ErrBadOffer, from.Short(), d.Round(time.Second))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for n, until := range c.seen {
		if now.After(until) {
			delete(c.seen, n)
		}
	}
	if _, dup := c.seen[string(offer.GetNonce())]; dup {
		return from, nil, fmt.Errorf("%w: from %s, a replay", ErrBadOffer, from.Short())
	}
	c.seen[string(offer.GetNonce())] = now.Add(2 * offerWindow)
	return from, offer, nil
}

// auth signs a fresh proof of key possession under ctx for server.
func (c *Client) auth(ctx context.Context, cl rendezvousv1.RendezvousServiceClient, server string, sctx identity.Context) (*signedv1.Envelope, error) {
	name, err := c.name(ctx, cl, server)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, 16)
	rand.Read(nonce)
	return signed.Seal(c.cfg.Key, sctx, &rendezvousv1.Auth{
		PublicKey: c.cfg.Key.Public().Bytes(), TimestampUnixMs: c.cfg.Now().UnixMilli(), Nonce: nonce, Server: name,
		DeviceId: c.cfg.DeviceID, DeviceCertificate: c.cfg.DeviceCertificate})
}

// Lookup fetches a peer's registration and verifies that the peer signed it.
func (c *Client) Lookup(ctx context.Context, peer identity.PublicKey) (*rendezvousv1.Registration, error) {
	var out *rendezvousv1.Registration
	err := c.onAnyServer(ctx, func(ctx context.Context, cl rendezvousv1.RendezvousServiceClient, _ string) error {
		resp, err := cl.Lookup(ctx, &rendezvousv1.LookupRequest{Fingerprint: string(peer.Fingerprint())})
		if err != nil {
			return err
		}
		out, err = verifyRecord(resp.GetRecord(), peer)
		return err
	})
	return out, err
}

// Connect sends an offer with our candidates, signed and sealed to peer, and returns
// peer's verified registration. secret identifies the attempt on both sides and keys its
// punch packets; only peer can read it.
func (c *Client) Connect(ctx context.Context, peer identity.PublicKey, kind rendezvousv1.OfferKind, cands []*rendezvousv1.Candidate, secret []byte) (*rendezvousv1.Registration, error) {
	return c.connect(ctx, peer, c.offer(kind, cands, secret))
}

// ConnectOpened is Connect's CONNECT saying that the caller's openers went to opened,
// an address of the peer's (Offer.opened_towards): the peer may dial back at once.
func (c *Client) ConnectOpened(ctx context.Context, peer identity.PublicKey, cands []*rendezvousv1.Candidate, secret []byte, opened netip.AddrPort) (*rendezvousv1.Registration, error) {
	o := c.offer(rendezvousv1.OfferKind_OFFER_KIND_CONNECT, cands, secret)
	o.OpenedTowards = opened.String()
	return c.connect(ctx, peer, o)
}

// connect seals o to peer and hands it to the rendezvous, which answers with peer's
// record.
func (c *Client) connect(ctx context.Context, peer identity.PublicKey, o *rendezvousv1.Offer) (*rendezvousv1.Registration, error) {
	offer, err := SealOffer(c.cfg.Key, peer, o, c.cfg.Now())
	if err != nil {
		return nil, err
	}
	var out *rendezvousv1.Registration
	err = c.onAnyServer(ctx, func(ctx context.Context, cl rendezvousv1.RendezvousServiceClient, _ string) error {
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
	err := c.onAnyServer(ctx, func(ctx context.Context, cl rendezvousv1.RendezvousServiceClient, server string) error {
		auth, err := c.auth(ctx, cl, server, identity.ContextTurnCredentials)
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
func (c *Client) onAnyServer(ctx context.Context, f func(context.Context, rendezvousv1.RendezvousServiceClient, string) error) error {
	servers := c.ordered()
	var errs []error
	for _, s := range servers {
		cl, err := c.client(s)
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = f(cctx, cl, s)
			cancel()
			c.forgetName(s, err)
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
		addr, tls, err := scheme(server)
		if err != nil {
			return nil, err
		}
		opts := c.cfg.DialOptions
		if opts == nil {
			opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
			if tls {
				opts = []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(c.cfg.RootCAs, ""))}
			}
		}
		// The liveness defaults first: DialOptions of the caller's override them.
		if conn, err = grpc.NewClient(addr, append(c.liveness(), opts...)...); err != nil {
			return nil, fmt.Errorf("rendezvous %s: %w", server, err)
		}
		c.conns[server] = conn
	}
	return rendezvousv1.NewRendezvousServiceClient(conn), nil
}

// Keepalives on the connection to a rendezvous: a ping after keepaliveIdle without
// traffic, and the connection dropped when a ping or any data goes unanswered for
// keepaliveWait (gRPC sets TCP_USER_TIMEOUT to it). The server's enforcement policy
// allows a ping every 10 s (rendezvous.go). A connection attempt (TCP, TLS, HTTP/2's
// prefaces) gives up after connectWait: a server that is listed first but silent (its
// host down, its network black-holing) holds a node's first registration no longer
// than that before the next server is tried; gRPC's default is 20 s.
const (
	keepaliveIdle = 20 * time.Second
	keepaliveWait = 10 * time.Second
	connectWait   = 5 * time.Second
)

// liveness are the dial options that notice a dead connection and reconnect soon after
// the network comes back. Without them a session whose connection died while its
// link was down (an ISP outage, a laptop asleep) waits on that connection until TCP's
// retransmission, backed off for as long as the link was down, reaches the server
// again, and gRPC's own reconnection backs off to two minutes. With them, the
// connection is dropped keepaliveIdle+keepaliveWait into an outage at most,
// connection attempts come at most MaxBackoff apart, as the sessions do, and each gives
// up after connectWait.
func (c *Client) liveness() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: keepaliveIdle, Timeout: keepaliveWait, PermitWithoutStream: true}),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: c.cfg.MinBackoff, Multiplier: 1.6, Jitter: 0.2, MaxDelay: c.cfg.MaxBackoff},
			MinConnectTimeout: connectWait,
		}),
	}
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
