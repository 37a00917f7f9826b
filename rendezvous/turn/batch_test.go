package turn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// udpPair is a batchConn on loopback (sending runs with gso) and two receivers.
func udpPair(t *testing.T, gso gsoFunc) (*batchConn, [2]*net.UDPConn) {
	t.Helper()
	return udpPairOn(t, "udp4", gso)
}

// udpPairOn is udpPair with the batchConn's socket on network: "udp4" on
// 127.0.0.1, or "udp" on every address, dual-stack, as the rendezvous binds it.
func udpPairOn(t *testing.T, network string, gso gsoFunc) (*batchConn, [2]*net.UDPConn) {
	t.Helper()
	listen := func(network string, ip net.IP) *net.UDPConn {
		c, err := net.ListenUDP(network, &net.UDPAddr{IP: ip})
		if err != nil {
			t.Fatal(err)
		}
		growBuffers(c, 8<<20)
		return c
	}
	var own net.IP
	if network == "udp4" {
		own = net.IPv4(127, 0, 0, 1)
	}
	b := newBatchConn(listen(network, own), gso)
	t.Cleanup(func() { b.Close() })
	var to [2]*net.UDPConn
	for i := range to {
		to[i] = listen("udp4", net.IPv4(127, 0, 0, 1))
		t.Cleanup(func() { to[i].Close() })
	}
	return b, to
}

// burst writes n datagrams through b, in runs of 1 to 20 to one receiver then the
// other, most of 1,284 bytes (a relayed QUIC packet in ChannelData) and some
// shorter, each numbered; it returns what each receiver should get, in order.
func burst(t *testing.T, b *batchConn, to [2]*net.UDPConn, n int) [2][][]byte {
	t.Helper()
	var want [2][][]byte
	dst := 0
	for i := 0; i < n; {
		for run := 1 + i%20; run > 0 && i < n; run-- {
			size := 1284
			if i%7 == 3 {
				size = 100 + i%1000
			}
			p := bytes.Repeat([]byte{byte(i)}, size)
			binary.BigEndian.PutUint32(p, uint32(i))
			if _, err := b.WriteTo(p, to[dst].LocalAddr()); err != nil {
				t.Fatal(err)
			}
			want[dst] = append(want[dst], p)
			i++
		}
		dst = 1 - dst
	}
	return want
}

// receive checks that c gets exactly want, in order.
func receive(t *testing.T, c *net.UDPConn, want [][]byte) {
	t.Helper()
	buf := make([]byte, 2048)
	for i, w := range want {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d of %d: %v", i, len(want), err)
		}
		if !bytes.Equal(buf[:n], w) {
			t.Fatalf("datagram %d of %d: got %d bytes numbered %d, want %d bytes numbered %d", i, len(want),
				n, binary.BigEndian.Uint32(buf), len(w), binary.BigEndian.Uint32(w))
		}
	}
}

// TestBatchConnKeepsEveryDatagram: a burst written through a batchConn arrives whole,
// each datagram as written, in order for each address, and some of it left in GSO
// batches, from an IPv4 socket and from a dual-stack one (IPv4 destinations then
// travel as IPv4-mapped addresses).
func TestBatchConnKeepsEveryDatagram(t *testing.T) {
	for _, network := range []string{"udp4", "udp"} {
		t.Run(network, func(t *testing.T) {
			b, to := udpPairOn(t, network, sendGSO)
			want := burst(t, b, to, 3000)
			receive(t, to[0], want[0])
			receive(t, to[1], want[1])
			if b.gsoSends.Load() == 0 {
				t.Error("3,000 datagrams written at once all left one by one: no GSO batch")
			}
		})
	}
}

// TestBatchConnWithoutGSO: where the kernel refuses GSO, the refused run and every
// later datagram still leave, one by one; where one GSO send fails for another
// reason, its run leaves one by one and GSO is tried again.
func TestBatchConnWithoutGSO(t *testing.T) {
	for _, tc := range []struct {
		err   error
		again bool
	}{{unix.EIO, false}, {unix.ENOBUFS, true}} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			var tried atomic.Int32
			b, to := udpPair(t, func(*net.UDPConn, []byte, int, netip.AddrPort) error {
				tried.Add(1)
				return tc.err
			})
			want := burst(t, b, to, 3000)
			receive(t, to[0], want[0])
			receive(t, to[1], want[1])
			if again := tried.Load() > 1; again != tc.again || b.gsoSends.Load() != 0 {
				t.Errorf("GSO failing with %v was tried %d times, %d sends; want tried again: %v", tc.err, tried.Load(), b.gsoSends.Load(), tc.again)
			}
		})
	}
}

// TestBatchConnRun: a GSO run is consecutive datagrams to one address, none longer
// than the first, only the last shorter, within the kernel's limits.
func TestBatchConnRun(t *testing.T) {
	a, z := netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("192.0.2.2:1")
	d := func(to netip.AddrPort, sizes ...int) []datagram {
		var q []datagram
		for _, s := range sizes {
			q = append(q, datagram{make([]byte, s), to})
		}
		return q
	}
	many := func(n, size int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = size
		}
		return s
	}
	c := &batchConn{gso: sendGSO}
	for _, tc := range []struct {
		name string
		q    []datagram
		want int
	}{
		{"one", d(a, 1284), 1},
		{"equal", d(a, 1284, 1284, 1284), 3},
		{"shorter last", d(a, 1284, 1284, 500, 1284), 3},
		{"longer stops", d(a, 500, 500, 1284), 2},
		{"other address", append(d(a, 1284, 1284), d(z, 1284)...), 2},
		{"segments", d(a, many(100, 200)...), batchSegments},
		{"bytes", d(a, many(60, 1400)...), batchBytes / 1400},
		{"bytes exactly", d(a, many(60, 1300)...), batchBytes / 1300},
	} {
		if got := c.run(tc.q); got != tc.want {
			t.Errorf("%s: run of %d, want %d", tc.name, got, tc.want)
		}
	}
	c.gso = nil
	if got := c.run(d(a, 1284, 1284)); got != 1 {
		t.Errorf("without GSO: run of %d, want 1", got)
	}
}

// TestBatchConnClose: a write after Close fails, and so does one waiting for room
// when Close comes.
func TestBatchConnClose(t *testing.T) {
	stuck := make(chan struct{})
	var once sync.Once
	unstick := func() { once.Do(func() { close(stuck) }) }
	b, to := udpPair(t, func(*net.UDPConn, []byte, int, netip.AddrPort) error {
		<-stuck
		return nil
	})
	t.Cleanup(unstick) // before udpPair's Close, which waits for the sender
	errs := make(chan error, 1)
	go func() {
		for {
			if _, err := b.WriteTo(make([]byte, 1284), to[0].LocalAddr()); err != nil {
				errs <- err
				return
			}
		}
	}()
	// The sender sits in a GSO send that never returns until stuck closes, so the
	// writer fills the queue and waits for room.
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-errs:
		t.Fatalf("writer stopped before Close: %v", err)
	default:
	}
	time.AfterFunc(50*time.Millisecond, unstick) // Close waits for the sender to come back
	b.Close()
	select {
	case err := <-errs:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("write waiting at Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a write waiting for room did not return at Close")
	}
	if _, err := b.WriteTo([]byte("x"), to[0].LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after Close: %v, want net.ErrClosed", err)
	}
}

// TestBatchConnQueueBound: a batchConn holds at most batchQueue datagrams unsent; the
// next write waits for room, and Close ends the wait.
func TestBatchConnQueueBound(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	// No sender: nothing takes the queue.
	b := &batchConn{UDPConn: c, kick: make(chan struct{}, 1), done: make(chan struct{}), sent: make(chan struct{}), gso: sendGSO}
	b.room = sync.NewCond(&b.mu)
	close(b.sent)
	to := c.LocalAddr()
	for i := range batchQueue {
		if _, err := b.WriteTo([]byte{byte(i)}, to); err != nil {
			t.Fatalf("write %d of %d: %v", i+1, batchQueue, err)
		}
	}
	errs := make(chan error, 1)
	go func() {
		_, err := b.WriteTo([]byte("one more"), to)
		errs <- err
	}()
	select {
	case err := <-errs:
		t.Fatalf("write %d returned (%v) with the queue full", batchQueue+1, err)
	case <-time.After(100 * time.Millisecond):
	}
	b.Close()
	if err := <-errs; !errors.Is(err, net.ErrClosed) {
		t.Errorf("the waiting write at Close: %v, want net.ErrClosed", err)
	}
}
