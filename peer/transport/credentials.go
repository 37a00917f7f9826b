package transport

import (
	"context"
	"fmt"
	"net"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/kithnet/kith/shared/identity"
)

// AuthInfo is what gRPC handlers learn about the caller: the key proved in the QUIC
// handshake, and how the connection runs.
type AuthInfo struct {
	credentials.CommonAuthInfo
	// Peer is the other end's person (identity key).
	Peer identity.PublicKey
	// Device is the key that proved itself: Peer, or one of Peer's devices.
	Device identity.PublicKey
	// Info describes the connection.
	Info Peer
}

// AuthType names the authentication.
func (AuthInfo) AuthType() string { return "kith-quic" }

// Caller returns the key of the peer that made the gRPC call in ctx.
func Caller(ctx context.Context) (identity.PublicKey, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return identity.PublicKey{}, false
	}
	ai, ok := p.AuthInfo.(AuthInfo)
	return ai.Peer, ok
}

// CallerDevice returns the key of the device that made the gRPC call in ctx: the
// caller's identity key itself, or one of its certified devices.
func CallerDevice(ctx context.Context) (identity.PublicKey, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return identity.PublicKey{}, false
	}
	ai, ok := p.AuthInfo.(AuthInfo)
	return ai.Device, ok
}

// creds tells gRPC that Conns are already authenticated and encrypted by QUIC.
type creds struct{}

// Credentials returns the gRPC transport credentials for Conns: grpc.Creds on the server,
// grpc.WithTransportCredentials on the client.
func Credentials() credentials.TransportCredentials { return creds{} }

func (creds) handshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	c, ok := raw.(*Conn)
	if !ok {
		return nil, nil, fmt.Errorf("kith credentials need a transport.Conn, got %T", raw)
	}
	return c, AuthInfo{
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
		Peer:           c.peer, Device: c.device, Info: c.Info(),
	}, nil
}

func (c creds) ClientHandshake(_ context.Context, _ string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.handshake(raw)
	if err != nil {
		return nil, nil, err
	}
	return &noPrefaceWait{Conn: conn, pending: slices.Clone(emptySettings)}, info, nil
}

// emptySettings is an HTTP/2 SETTINGS frame without settings: length 0, type 4, no
// flags, stream 0.
var emptySettings = []byte{0, 0, 0, 4, 0, 0, 0, 0, 0}

// noPrefaceWait is a gRPC client's connection that reads an empty SETTINGS frame before
// the server's first byte. HTTP/2 lets a client send its requests right after its own
// preface, without waiting for the server's, using the protocol's default settings until
// the server's arrive (RFC 9113 section 3.4); grpc-go waits for the server's preface all
// the same, a round trip on every connection before its first call. The empty frame says
// "the defaults" and ends that wait at once; the server's own SETTINGS come next, as a
// second SETTINGS frame, which HTTP/2 allows at any time, and apply from then on. The
// client acknowledges both; a server takes an acknowledgement it did not ask for as
// nothing (grpc-go's does).
type noPrefaceWait struct {
	net.Conn
	pending []byte // read by gRPC's one reader goroutine only
}

func (c *noPrefaceWait) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c creds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c.handshake(raw)
}

func (creds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "kith-quic", ServerName: "kith"}
}

func (c creds) Clone() credentials.TransportCredentials { return c }

func (creds) OverrideServerName(string) error { return nil }

// ClientOptions are what every gRPC client over a kith connection uses: Credentials,
// and fixed flow-control windows the size of the QUIC stream's. gRPC's default starts
// at 64 KiB and grows by measuring the bandwidth-delay product a round trip at a time,
// which kept an attachment's first megabytes waiting for window updates on a long
// path; the fixed window is no larger than what that estimate may reach (16 MiB).
func ClientOptions(opts ...grpc.DialOption) []grpc.DialOption {
	return append([]grpc.DialOption{
		grpc.WithTransportCredentials(Credentials()),
		grpc.WithInitialWindowSize(streamWindow),
		grpc.WithInitialConnWindowSize(connWindow),
	}, opts...)
}

// Client returns a gRPC client connection to the peer want at addr. Each connection
// attempt dials a fresh authenticated QUIC connection.
func (t *Transport) Client(addr net.Addr, want identity.PublicKey, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts = ClientOptions(append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return t.Dial(ctx, addr, want)
		}),
	}, opts...)...)
	return grpc.NewClient("passthrough:///"+string(want.ID()), opts...)
}
