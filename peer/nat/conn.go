package nat

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/kithnet/kith/shared/bufpool"
)

// datagram is one received packet waiting in a queue.
type datagram struct {
	b    []byte
	from net.Addr
}

// queueConn is a net.PacketConn whose reads come from a queue the Mux fills and whose
// writes go straight to the Mux's socket. It has no SyscallConn on purpose: quic-go
// would read the raw socket through it and bypass the demultiplexer.
type queueConn struct {
	mux     *Mux
	in      chan datagram
	onClose func()

	closeOnce sync.Once
	closed    chan struct{}

	mu       sync.Mutex
	deadline time.Time
	changed  chan struct{} // closed and replaced whenever deadline changes
}

func newQueueConn(m *Mux, n int, onClose func()) *queueConn {
	return &queueConn{mux: m, in: make(chan datagram, n), onClose: onClose,
		closed: make(chan struct{}), changed: make(chan struct{})}
}

// deliver queues a datagram, dropping it when the reader lags (UDP semantics). The
// queue owns b (a buffer from bufpool) from here on.
func (c *queueConn) deliver(b []byte, from net.Addr) {
	select {
	case <-c.closed:
	case c.in <- datagram{b, from}:
		return
	default:
	}
	bufpool.Put(b)
}

func (c *queueConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		c.mu.Lock()
		deadline, changed := c.deadline, c.changed
		c.mu.Unlock()
		var timeout <-chan time.Time
		var timer *time.Timer
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return 0, nil, os.ErrDeadlineExceeded
			}
			timer = time.NewTimer(d)
			timeout = timer.C
		}
		d, err := c.wait(timeout, changed)
		if timer != nil {
			timer.Stop()
		}
		if err != errDeadlineMoved {
			n := copy(p, d.b)
			bufpool.Put(d.b)
			return n, d.from, err
		}
	}
}

// errDeadlineMoved makes ReadFrom start over with the new deadline.
var errDeadlineMoved = errors.New("nat: read deadline moved")

// wait takes one datagram, or says why not.
func (c *queueConn) wait(timeout <-chan time.Time, changed chan struct{}) (datagram, error) {
	select {
	case d := <-c.in:
		return d, nil
	case <-c.closed:
		return datagram{}, net.ErrClosed
	case <-c.mux.done:
		return datagram{}, net.ErrClosed
	case <-timeout:
		return datagram{}, os.ErrDeadlineExceeded
	case <-changed:
		return datagram{}, errDeadlineMoved
	}
}

func (c *queueConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	return c.mux.conn.WriteTo(p, addr)
}

// Close stops the queue; the Mux's socket stays open.
func (c *queueConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		if c.onClose != nil {
			c.onClose()
		}
	})
	return nil
}

func (c *queueConn) LocalAddr() net.Addr { return c.mux.conn.LocalAddr() }

func (c *queueConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *queueConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	close(c.changed)
	c.changed = make(chan struct{})
	return nil
}

// SetWriteDeadline is accepted and ignored: writes go to a UDP socket and do not block.
func (c *queueConn) SetWriteDeadline(time.Time) error { return nil }

// SetReadBuffer and SetWriteBuffer size the shared socket's buffers, as quic-go asks.
func (c *queueConn) SetReadBuffer(n int) error { return c.mux.conn.SetReadBuffer(n) }

// SetWriteBuffer sizes the shared socket's send buffer.
func (c *queueConn) SetWriteBuffer(n int) error { return c.mux.conn.SetWriteBuffer(n) }
