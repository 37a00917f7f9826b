package nat

import (
	"context"
	"net"
	"time"
)

// DefaultKeepalive is the keepalive interval when none is configured: well under the
// 30 s UDP timeout common in home routers (Linux conntrack's unreplied timeout).
const DefaultKeepalive = 15 * time.Second

// Writer is where keepalives go: the Mux, its PacketConn, or any net.PacketConn.
type Writer interface {
	WriteTo(p []byte, addr net.Addr) (int, error)
}

// Keepalive sends a tiny keepalive datagram to `to` every interval (zero:
// DefaultKeepalive) until ctx ends, so NATs on the way keep the mapping. Receivers,
// a Mux or a STUN server, drop it. Send errors (an ICMP from a peer that went away)
// do not stop it; the caller's ctx does. It returns ctx's error.
func Keepalive(ctx context.Context, w Writer, to net.Addr, interval time.Duration) error {
	interval = orDefault(interval, DefaultKeepalive)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		_, _ = w.WriteTo(keepalivePacket, to)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
