package daemon

import (
	"context"
	"crypto/rand"
	"net"
	"sync"

	"google.golang.org/grpc"

	"github.com/kithnet/kith/peer/transport"
	"github.com/kithnet/kith/shared/identity"
)

// clientOn returns a gRPC client for the friend want at addr on tr whose first
// connection is first, already dialled (so a path is proved before it is used); later
// reconnections dial afresh.
func clientOn(tr *transport.Transport, addr net.Addr, want identity.PublicKey, first *transport.Conn) (*grpc.ClientConn, error) {
	var mu sync.Mutex
	dial := func(ctx context.Context, _ string) (net.Conn, error) {
		mu.Lock()
		c := first
		first = nil
		mu.Unlock()
		if c != nil {
			return c, nil
		}
		return tr.Dial(ctx, addr, want)
	}
	cc, err := grpc.NewClient("passthrough:///"+string(want.ID()),
		grpc.WithTransportCredentials(transport.Credentials()), grpc.WithContextDialer(dial))
	if err != nil {
		first.Close()
	}
	return cc, err
}

// newNonce is a fresh offer nonce: 16 random bytes, what the rendezvous takes and the
// shortest a punch accepts.
func newNonce() []byte {
	b := make([]byte, 16)
	rand.Read(b)
	return b
}
