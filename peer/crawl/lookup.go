package crawl

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Finder returns a peer's registration, verified as signed by the peer
// (discovery.Client.Lookup does).
type Finder interface {
	Lookup(ctx context.Context, peer identity.PublicKey) (*rendezvousv1.Registration, error)
}

// Lookup is a Dialer that asks a rendezvous where a peer is: the address hint first, if
// any, then the candidates of the peer's own signed registration, in its order, over
// Direct's socket. It neither punches holes nor relays: a peer behind a NAT that drops
// unsolicited packets stays unreachable to it until a Dialer built on the NAT traversal
// (offer through the rendezvous, simultaneous open, TURN) takes its place.
type Lookup struct {
	// Direct dials the addresses.
	Direct *Direct
	// Finder looks peers up.
	Finder Finder
}

// Dial looks want up and connects to the first address that proves want's key.
func (l Lookup) Dial(ctx context.Context, want identity.PublicKey, addr string) (*grpc.ClientConn, error) {
	var addrs []string
	if addr != "" {
		addrs = append(addrs, addr)
	}
	reg, err := l.Finder.Lookup(ctx, want)
	if err != nil && len(addrs) == 0 {
		return nil, fmt.Errorf("rendezvous lookup: %w", err)
	}
	for _, c := range reg.GetCandidates() {
		if c.GetAddress() != addr {
			addrs = append(addrs, c.GetAddress())
		}
	}
	return l.Direct.DialAny(want, addrs)
}

var _ Dialer = Lookup{}
