package crawl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"

	"github.com/kithnet/kith/peer/transport"
	"github.com/kithnet/kith/shared/identity"
)

// ErrNoAddress means the Dialer has no way to reach a peer: in direct mode, no host:port
// is known for its ID (not a seed's, not one published with a follow, not one in the index).
var ErrNoAddress = errors.New("no address known for this peer (direct mode: give it as a seed ID@HOST:PORT)")

// Dialer reaches a peer's sync API as a stranger. addr is a host:port hint (from a seed,
// a published follow entry or the index), empty when none is known; a Dialer that finds
// peers another way (a rendezvous lookup, hole punching, TURN) may use it first or not
// at all. The connection must prove it is want's (the kith transport checks the key in
// the handshake).
type Dialer interface {
	Dial(ctx context.Context, want identity.PublicKey, addr string) (*grpc.ClientConn, error)
}

// Direct dials peers at a known host:port over the kith transport, on its own UDP socket.
type Direct struct {
	tr *transport.Transport
	pc net.PacketConn
	// AttemptTimeout bounds one address's QUIC handshake when there are several to try.
	AttemptTimeout time.Duration
}

// NewDirect opens a UDP socket on listen (":0" when empty) and runs the kith transport
// on it under key, the crawler's identity.
func NewDirect(key *identity.Key, listen string, log *slog.Logger) (*Direct, error) {
	if listen == "" {
		listen = ":0"
	}
	pc, err := net.ListenPacket("udp", listen)
	if err != nil {
		return nil, fmt.Errorf("crawler socket: %w", err)
	}
	tr, err := transport.New(transport.Config{Key: key, PacketConn: pc, Logger: log})
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("crawler transport: %w", err)
	}
	return &Direct{tr: tr, pc: pc, AttemptTimeout: 5 * time.Second}, nil
}

// Dial connects to want at addr.
func (d *Direct) Dial(ctx context.Context, want identity.PublicKey, addr string) (*grpc.ClientConn, error) {
	if addr == "" {
		return nil, ErrNoAddress
	}
	return d.DialAny(want, []string{addr})
}

// DialAny returns a connection to want that tries addrs in order, the first whose
// handshake proves want's key winning.
func (d *Direct) DialAny(want identity.PublicKey, addrs []string) (*grpc.ClientConn, error) {
	if len(addrs) == 0 {
		return nil, ErrNoAddress
	}
	dial := func(ctx context.Context, _ string) (net.Conn, error) {
		var errs []error
		for _, a := range addrs {
			ua, err := net.ResolveUDPAddr("udp", a)
			if err != nil {
				errs = append(errs, fmt.Errorf("address %q: %w", a, err))
				continue
			}
			actx, cancel := ctx, context.CancelFunc(func() {})
			if len(addrs) > 1 && d.AttemptTimeout > 0 {
				actx, cancel = context.WithTimeout(ctx, d.AttemptTimeout)
			}
			c, err := d.tr.Dial(actx, ua, want)
			cancel()
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}
	return grpc.NewClient("passthrough:///"+string(want.ID()),
		transport.ClientOptions(grpc.WithContextDialer(dial),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))...)
}

// Close closes the transport and its socket.
func (d *Direct) Close() error {
	err := d.tr.Close()
	d.pc.Close() // quic-go leaves a socket it did not open to its owner
	return err
}

var _ Dialer = (*Direct)(nil)
