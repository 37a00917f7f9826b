package turn

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kithnet/kith/shared/bufpool"
)

// Relayed datagrams leave in batches (issue 20). pion writes each relayed datagram
// on its own, from the goroutine that read it, so every datagram paid a sendmsg and a
// trip of its own through the host's stack and every router it crosses. A batchConn
// takes pion's writes into a short queue and a goroutine of its own sends them: the
// reading goroutine goes back to reading at once, and the datagrams that queued
// meanwhile for one address leave in one sendmsg with UDP generic segmentation
// offload (GSO, UDP_SEGMENT): the host's stack carries the run as one buffer and cuts
// it into the original datagrams as late as it can (in the network card, or just
// before the driver), so the wire and every router see the same datagrams as before.
// When nothing queues (a light load) each datagram leaves alone, as before, one
// goroutine hand-off later.
//
// In the lab (BenchmarkRelayThroughput) this took the rendezvous from 15-19 ms to
// 11-14 ms of CPU per relayed MiB (docs/DESIGN.md, "The lab's links and the relay,
// cheaper per packet").

const (
	// batchSegments is the most datagrams one GSO send carries (the kernel's
	// UDP_MAX_SEGMENTS is 64 on older kernels), and batchBytes the most bytes.
	batchSegments = 64
	batchBytes    = 65000
	// batchQueue is the most datagrams a batchConn holds unsent; a writer waits for
	// room beyond it, as it waits for a full socket buffer, so the queue adds at most
	// batchQueue datagrams (about 100 KiB) per socket to what the kernel holds.
	batchQueue = 64
)

// batchWrites is whether Start wraps its sockets in batchConns; only
// BenchmarkRelayBatches' baseline turns it off.
var batchWrites = true

// batched is pc sending through a batchConn when it is a UDP socket (and batchWrites).
func batched(pc net.PacketConn) net.PacketConn {
	if uc, ok := pc.(*net.UDPConn); ok && batchWrites {
		return newBatchConn(uc, sendGSO)
	}
	return pc
}

// batchConn is a UDP socket whose writes a goroutine of its own sends, in GSO batches
// where consecutive datagrams go to one address. Reads and everything else go to the
// socket. A write returns once the datagram is queued; its error, if sending fails,
// is dropped, as UDP drops a datagram the network loses.
type batchConn struct {
	*net.UDPConn

	mu     sync.Mutex
	room   *sync.Cond // signalled when the sender takes the queue or the conn closes
	queue  []datagram // guarded by mu
	closed bool       // guarded by mu
	kick   chan struct{}
	done   chan struct{}
	sent   chan struct{} // closed when the sender has stopped

	gso      gsoFunc      // the sender's own; nil once the kernel refused GSO, and then every datagram goes alone
	out      []byte       // the sender's own: the run being sent
	gsoSends atomic.Int64 // GSO sends that carried more than one datagram
}

// gsoFunc sends b to `to` from c as datagrams of size bytes (the last may be
// shorter) in one call: sendGSO, or a failing one in a test.
type gsoFunc func(c *net.UDPConn, b []byte, size int, to netip.AddrPort) error

// datagram is one queued write.
type datagram struct {
	b  []byte
	to netip.AddrPort
}

// newBatchConn starts c's sender, sending runs with gso (sendGSO); Close stops it
// and closes c.
func newBatchConn(c *net.UDPConn, gso gsoFunc) *batchConn {
	b := &batchConn{UDPConn: c, kick: make(chan struct{}, 1), done: make(chan struct{}), sent: make(chan struct{}), gso: gso}
	b.room = sync.NewCond(&b.mu)
	go b.send()
	return b
}

// WriteTo queues p for addr, waiting while the queue is full.
func (c *batchConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return c.UDPConn.WriteTo(p, addr)
	}
	d := datagram{append(bufpool.Get(len(p)), p...), ua.AddrPort()}
	c.mu.Lock()
	for len(c.queue) >= batchQueue && !c.closed {
		c.room.Wait()
	}
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	c.queue = append(c.queue, d)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return len(p), nil
}

// Close stops the sender (datagrams still queued are dropped) and closes the socket.
func (c *batchConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return net.ErrClosed
	}
	c.closed = true
	c.room.Broadcast()
	c.mu.Unlock()
	close(c.done)
	err := c.UDPConn.Close() // ends a send in progress
	<-c.sent
	return err
}

// send is the sender: it takes the whole queue whenever kicked and sends it.
func (c *batchConn) send() {
	defer close(c.sent)
	var spare []datagram
	for {
		select {
		case <-c.kick:
		case <-c.done:
			return
		}
		c.mu.Lock()
		taken := c.queue
		c.queue = spare[:0]
		c.room.Broadcast()
		c.mu.Unlock()
		for q := taken; len(q) > 0; {
			n := c.run(q)
			c.sendRun(q[:n])
			q = q[n:]
		}
		for i := range taken {
			bufpool.Put(taken[i].b)
			taken[i] = datagram{}
		}
		spare = taken
	}
}

// run is how many datagrams from the start of q one GSO send may carry: consecutive
// ones to one address, none longer than the first, only the last shorter, within
// batchSegments and batchBytes.
func (c *batchConn) run(q []datagram) int {
	if c.gso == nil {
		return 1
	}
	size, total := len(q[0].b), len(q[0].b)
	n := 1
	for n < len(q) && n < batchSegments && q[n].to == q[0].to && len(q[n].b) <= size && total+len(q[n].b) <= batchBytes {
		total += len(q[n].b)
		n++
		if len(q[n-1].b) < size {
			break
		}
	}
	return n
}

// sendRun sends one run: alone, or in one GSO send, or one by one after all when
// that send fails; when the kernel refuses GSO itself, it is not tried again on this
// socket.
func (c *batchConn) sendRun(run []datagram) {
	if len(run) > 1 {
		c.out = c.out[:0]
		for _, d := range run {
			c.out = append(c.out, d.b...)
		}
		err := c.gso(c.UDPConn, c.out, len(run[0].b), run[0].to)
		if err == nil {
			c.gsoSends.Add(1)
			return
		}
		if gsoRefused(err) {
			c.gso = nil
		}
	}
	for _, d := range run {
		_, _ = c.UDPConn.WriteToUDPAddrPort(d.b, d.to)
	}
}

// gsoRefused tells a kernel or device that cannot segment UDP (no checksum offload,
// no UDP_SEGMENT) from an error of the send itself.
func gsoRefused(err error) bool {
	for _, e := range []error{unix.EIO, unix.EINVAL, unix.ENOPROTOOPT, unix.EOPNOTSUPP} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// sendGSO sends b to `to` from c as datagrams of size bytes (the last may be
// shorter) in one sendmsg with a UDP_SEGMENT control message.
func sendGSO(c *net.UDPConn, b []byte, size int, to netip.AddrPort) error {
	oob := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], uint16(size))
	_, _, err := c.WriteMsgUDPAddrPort(b, oob, to)
	return err
}
