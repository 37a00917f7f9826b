// Package transport carries kith's sync API: QUIC (quic-go) over any net.PacketConn, TLS
// 1.3 certificates bound to identity keys and checked on both ends, and one QUIC stream
// per connection presented as a net.Conn for gRPC.
package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// Paths a connection may take.
const (
	// Direct is a connection straight between the two peers' sockets.
	Direct = "direct"
	// Relay is a connection through a TURN relay.
	Relay = "relay"
)

// ErrClosed means the transport was closed.
var ErrClosed = errors.New("transport closed")

// Config is what a Transport needs.
type Config struct {
	// Key is this peer's identity; its certificate is made from it.
	Key *identity.Key
	// PacketConn carries the QUIC packets: a UDP socket, a demultiplexed share of one
	// (STUN and punching on the same port), or a TURN relay's PacketConn. The caller
	// owns it and closes it after the Transport.
	PacketConn net.PacketConn
	// Path is what connections over PacketConn are: Direct (the default) or Relay.
	Path string
	// Logger receives what the transport has to say; slog.Default() when nil.
	Logger *slog.Logger
	// Now is the clock for certificates; time.Now when nil.
	Now func() time.Time
	// IdleTimeout closes a connection silent for that long; 30s when zero. Keep-alives
	// are sent at a third of it.
	IdleTimeout time.Duration
	// KeepAlive is how often an idle connection sends a packet, holding NAT mappings
	// open; a third of IdleTimeout when zero.
	KeepAlive time.Duration
	// Limits bound inbound connections per key, per source address and in total.
	Limits Limits
	// DeviceCertificate, when Key is a device key (issue 16), is the certificate its
	// person's identity signed for it; the TLS certificate carries it, and the
	// transport speaks for the person (ID is the person's).
	DeviceCertificate *signedv1.Envelope
	// Revoked returns the verified revocations of a person's devices this node holds;
	// a device they revoked is refused on both ends, and so is every device of a person
	// whose revocations cannot be read (error). Nil: none known.
	Revoked func(person identity.PublicKey) ([]device.Revocation, error)
}

// Transport dials and accepts authenticated QUIC connections on one PacketConn.
type Transport struct {
	cfg  Config
	qt   *quic.Transport
	cert tls.Certificate
	log  *slog.Logger
	// person is whom this transport speaks for: the key, or a device's identity.
	person identity.PublicKey

	limits Limits

	mu    sync.Mutex
	conns map[*Conn]struct{} // guards conns, ln, back
	ln    *listener
	back  func(*Conn) bool // OnDialBack's taker
}

// New starts a transport on cfg.PacketConn.
func New(cfg Config) (*Transport, error) {
	if cfg.Key == nil || cfg.PacketConn == nil {
		return nil, errors.New("transport: Config.Key and Config.PacketConn are required")
	}
	if cfg.Path == "" {
		cfg.Path = Direct
	}
	if cfg.Path != Direct && cfg.Path != Relay {
		return nil, fmt.Errorf("transport: path %q: want %q or %q", cfg.Path, Direct, Relay)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = cfg.IdleTimeout / 3
	}
	cert, err := certificate(cfg.Key, cfg.DeviceCertificate, cfg.Now())
	if err != nil {
		return nil, err
	}
	person := cfg.Key.Public()
	if cfg.DeviceCertificate != nil {
		c, err := device.Open(cfg.DeviceCertificate, identity.PublicKey(cfg.DeviceCertificate.GetSigner()))
		if err != nil || c.Key != person {
			return nil, fmt.Errorf("transport: Config.DeviceCertificate is not for Config.Key: %v", err)
		}
		person = c.Identity
	}
	return &Transport{
		cfg: cfg, cert: cert, log: cfg.Logger, limits: cfg.Limits.withDefaults(), person: person,
		qt:    &quic.Transport{Conn: cfg.PacketConn},
		conns: map[*Conn]struct{}{},
	}, nil
}

func (t *Transport) quicConfig() *quic.Config {
	return &quic.Config{
		// With QLOGDIR set in its environment, a process writes a qlog trace of each
		// connection there (quic-go's own tracer; nothing at all without it): what a
		// slow transfer's congestion window, losses and round trips did, for an
		// engineer to read (docs/DESIGN.md, "What holds a relayed transfer").
		Tracer:          qlog.DefaultConnectionTracer,
		MaxIdleTimeout:  t.cfg.IdleTimeout,
		KeepAlivePeriod: t.cfg.KeepAlive,
		// One bidirectional stream carries gRPC; a second is never needed.
		MaxIncomingStreams:    1,
		MaxIncomingUniStreams: -1,
		// Start at the windows quic-go would otherwise reach by doubling, a round trip
		// at a time, only after the first megabytes: on a relayed path (twice the
		// round trip) that ramp held a 50 MiB attachment's sender below its congestion
		// window for its first second. The maxima stay quic-go's. A peer may have 4 MiB
		// sent to us unread from its first byte (512 KiB before); the gRPC server reads
		// continuously, so that is held only while the daemon is not scheduled
		// (docs/DESIGN.md, "A sync in two round trips").
		InitialStreamReceiveWindow:     streamWindow,
		InitialConnectionReceiveWindow: connWindow,
	}
}

// The flow-control windows a sync connection starts with, in QUIC (quicConfig) and in
// the gRPC client over it (ClientOptions): 4 MiB carries 45 MB/s on a 90 ms relayed
// round trip.
const (
	streamWindow = 4 << 20
	connWindow   = 6 << 20
)

// Addr returns the local address of the PacketConn.
func (t *Transport) Addr() net.Addr { return t.cfg.PacketConn.LocalAddr() }

// ID returns this peer's ID.
func (t *Transport) ID() identity.ID { return t.person.ID() }

// Dial connects to the peer at addr, which must prove it holds want's key.
func (t *Transport) Dial(ctx context.Context, addr net.Addr, want identity.PublicKey) (*Conn, error) {
	return t.dial(ctx, addr, want, t.tlsConfig(&want))
}

// dial connects to want at addr with conf and opens the connection's one stream.
func (t *Transport) dial(ctx context.Context, addr net.Addr, want identity.PublicKey, conf *tls.Config) (*Conn, error) {
	qc, err := t.handshake(ctx, addr, want, conf)
	if err != nil {
		return nil, err
	}
	st, err := qc.OpenStreamSync(ctx)
	if err != nil {
		qc.CloseWithError(0, "")
		return nil, fmt.Errorf("dial %s at %s: open stream: %w", want.Short(), addr, err)
	}
	c := t.track(qc, st, want, false)
	c.device = dialledDevice(qc)
	return c, nil
}

// handshake dials QUIC at addr with conf, whose certificate check wants want's key.
func (t *Transport) handshake(ctx context.Context, addr net.Addr, want identity.PublicKey, conf *tls.Config) (*quic.Conn, error) {
	qc, err := t.qt.Dial(ctx, addr, conf, t.quicConfig())
	if err != nil {
		return nil, fmt.Errorf("dial %s at %s: %w", want.Short(), addr, err)
	}
	return qc, nil
}

// ReadNonQUICPacket returns the next packet on the PacketConn that is not QUIC (STUN,
// punching), for the NAT traversal that shares the socket. quic-go keeps such packets
// only once this has been called, so a user should read continuously from the start.
func (t *Transport) ReadNonQUICPacket(ctx context.Context, b []byte) (int, net.Addr, error) {
	return t.qt.ReadNonQUICPacket(ctx, b)
}

// WriteTo sends a non-QUIC packet on the shared PacketConn.
func (t *Transport) WriteTo(b []byte, addr net.Addr) (int, error) { return t.qt.WriteTo(b, addr) }

// Peer describes a live connection, for `kith status`.
type Peer struct {
	// ID is the other end's identity, proved in the handshake.
	ID identity.ID `json:"id"`
	// Device is the key that proved itself: the identity's, or one of its devices'.
	Device identity.PublicKey `json:"-"`
	// Path is Direct or Relay.
	Path string `json:"path"`
	// Remote is the other end's address as this socket sees it.
	Remote string `json:"remote"`
	// Local is this end's socket address: the node's listening socket, the relay's,
	// or a spare socket a birthday punch opened.
	Local string `json:"local"`
	// Inbound is true when the other end dialled.
	Inbound bool `json:"inbound"`
	// Received counts the packets received on the connection so far: when it stops
	// moving for longer than a keepalive interval, the path has stopped answering.
	Received uint64 `json:"-"`
}

// Peers lists the live connections.
func (t *Transport) Peers() []Peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Peer
	for c := range t.conns {
		if c.qc.Context().Err() != nil {
			delete(t.conns, c)
			continue
		}
		out = append(out, c.Info())
	}
	return out
}

func (t *Transport) track(qc *quic.Conn, st *quic.Stream, peer identity.PublicKey, inbound bool) *Conn {
	c := &Conn{qc: qc, st: st, peer: peer, path: t.cfg.Path, inbound: inbound, t: t}
	t.mu.Lock()
	t.conns[c] = struct{}{}
	t.mu.Unlock()
	go t.logEnd(c, time.Now())
	return c
}

func (t *Transport) forget(c *Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

// Close closes the listener and every connection, then stops reading the PacketConn
// (which stays open: the caller owns it).
func (t *Transport) Close() error {
	t.mu.Lock()
	ln := t.ln
	conns := make([]*Conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for _, c := range conns {
		c.Close()
	}
	return t.qt.Close()
}
