package transport

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/kithnet/kith/shared/identity"
)

// Conn is one authenticated QUIC connection's single stream, as a net.Conn.
type Conn struct {
	qc      *quic.Conn
	st      *quic.Stream
	peer    identity.PublicKey
	device  identity.PublicKey // the key that proved itself: peer's own, or its device's
	path    string
	inbound bool
	// stranger is set on inbound connections from a key that was not a friend when it
	// connected (for Limits).
	stranger bool
	t        *Transport
	once     sync.Once
}

// PeerKey returns the other end's key, proved in the TLS handshake.
func (c *Conn) PeerKey() identity.PublicKey { return c.peer }

// DeviceKey returns the key that signed the handshake: the peer's identity key, or
// the key of the peer's device that connected.
func (c *Conn) DeviceKey() identity.PublicKey { return c.device }

// Info describes the connection.
func (c *Conn) Info() Peer {
	return Peer{ID: c.peer.ID(), Device: c.device, Path: c.path, Remote: c.qc.RemoteAddr().String(),
		Local: c.qc.LocalAddr().String(), Inbound: c.inbound,
		Received: c.qc.ConnectionStats().PacketsReceived}
}

// Read reads from the stream.
func (c *Conn) Read(b []byte) (int, error) { return c.st.Read(b) }

// Write writes to the stream.
func (c *Conn) Write(b []byte) (int, error) { return c.st.Write(b) }

// Close closes the stream and the connection it is alone on. The stream is reset, not
// finished: a Write blocked on flow control (the other end stopped reading) returns at
// once instead of holding up whoever closes, such as grpc.Server.Stop.
func (c *Conn) Close() error {
	c.once.Do(func() {
		c.st.CancelRead(0)
		c.st.CancelWrite(0)
		c.qc.CloseWithError(0, "")
		c.t.forget(c)
	})
	return nil
}

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.qc.LocalAddr() }

// RemoteAddr returns the other end's address.
func (c *Conn) RemoteAddr() net.Addr { return c.qc.RemoteAddr() }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.st.SetDeadline(t) }

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.st.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.st.SetWriteDeadline(t) }

// logEnd waits for c's connection to end, then logs what it carried: its round trip,
// the packets it lost and the bytes each way, the figures an operator needs when a
// sync was slow (a lossy or queued path shows here, not in "connected"). One goroutine
// per connection, for as long as the connection lives. A stranger's connection (a
// crawler, anyone with a key) ends at debug level: strangers choose how many
// connections they make, and must not choose how much an operator's log says.
func (t *Transport) logEnd(c *Conn, start time.Time) {
	ctx := c.qc.Context()
	<-ctx.Done()
	s := c.qc.ConnectionStats()
	level := slog.LevelInfo
	if c.stranger {
		level = slog.LevelDebug
	}
	t.log.Log(context.Background(), level, "connection ended", "peer", c.peer.ID(), "path", c.path, "remote", c.qc.RemoteAddr().String(),
		"inbound", c.inbound, "lasted_ms", time.Since(start).Milliseconds(),
		"rtt_ms", ms(s.SmoothedRTT), "min_rtt_ms", ms(s.MinRTT),
		"sent_packets", s.PacketsSent, "lost_packets", s.PacketsLost,
		"sent_bytes", s.BytesSent, "received_bytes", s.BytesReceived, "cause", context.Cause(ctx))
}

// ms is d in milliseconds, to a tenth.
func ms(d time.Duration) float64 {
	return float64(d.Round(100*time.Microsecond)) / float64(time.Millisecond)
}
