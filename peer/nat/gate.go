package nat

import (
	"context"
	"net"

	"github.com/pion/stun"
)

// gatedConn is the TURN client's socket holding its authenticated Allocate request
// back until gate closes (TURNConfig.Gate). pion's Allocate takes two round trips: an
// Allocate without credentials, which the server answers 401 with its realm and nonce,
// then the same request with MESSAGE-INTEGRITY. Only the second can be refused for
// coming too early, so the first goes at once and the second waits: when the gate
// opens, the allocation is one round trip away instead of two.
//
// A write held at the gate starts no retransmission timer (pion starts it after the
// write returns), and one held when ctx ends fails with ctx's error.
type gatedConn struct {
	net.PacketConn
	ctx  context.Context
	gate <-chan struct{}
}

// WriteTo sends p to addr, after the gate opened when p is an authenticated Allocate.
func (c *gatedConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	select {
	case <-c.gate: // open: nothing more to look at
	default:
		if authenticatedAllocate(p) {
			select {
			case <-c.gate:
			case <-c.ctx.Done():
				return 0, c.ctx.Err()
			}
		}
	}
	return c.PacketConn.WriteTo(p, addr)
}

// allocateRequest is the STUN type of a TURN Allocate request (RFC 5766 section 6).
var allocateRequest = stun.NewType(stun.MethodAllocate, stun.ClassRequest)

// authenticatedAllocate reports whether p is a STUN Allocate request carrying
// MESSAGE-INTEGRITY: the one a server allocates on (or refuses).
func authenticatedAllocate(p []byte) bool {
	if !stun.IsMessage(p) {
		return false
	}
	m := stun.Message{Raw: append([]byte(nil), p...)}
	if err := m.Decode(); err != nil {
		return false
	}
	return m.Type == allocateRequest && m.Contains(stun.AttrMessageIntegrity)
}
