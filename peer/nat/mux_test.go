package nat

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/natlab"
)

func TestBindingLearnsReflexiveAddress(t *testing.T) {
	reflector, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	natlab.RunSTUN(t, reflector)
	m := newMux(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	got, err := m.Binding(ctx, reflector.LocalAddr().(*net.UDPAddr).AddrPort())
	if err != nil {
		t.Fatal(err)
	}
	if got != m.LocalAddr() {
		t.Errorf("Binding on loopback = %s, want the socket's own %s", got, m.LocalAddr())
	}

	// A server that never answers: the context ends the retransmissions.
	silent, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer silent.Close()
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := m.Binding(ctx, silent.LocalAddr().(*net.UDPAddr).AddrPort()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Binding to a silent server = %v, want a deadline error", err)
	}
}

func TestPunchLoopback(t *testing.T) {
	dead := netip.MustParseAddrPort("127.0.0.1:9") // discard: nothing answers
	for _, tc := range []struct {
		name            string
		aSees, bSees    func(a, b *Mux) []netip.AddrPort
		bNonce          []byte // nil: the shared one
		wantDirect      bool
		wantPeerReflexA bool
	}{
		{
			name:       "both know each other",
			aSees:      func(a, b *Mux) []netip.AddrPort { return []netip.AddrPort{dead, b.LocalAddr()} },
			bSees:      func(a, b *Mux) []netip.AddrPort { return []netip.AddrPort{a.LocalAddr(), dead} },
			wantDirect: true,
		},
		{
			name:            "a learns b's peer-reflexive address from its pings",
			aSees:           func(a, b *Mux) []netip.AddrPort { return []netip.AddrPort{dead} },
			bSees:           func(a, b *Mux) []netip.AddrPort { return []netip.AddrPort{a.LocalAddr()} },
			wantDirect:      true,
			wantPeerReflexA: true,
		},
		{
			name:   "different nonces never answer",
			aSees:  func(a, b *Mux) []netip.AddrPort { return []netip.AddrPort{b.LocalAddr()} },
			bSees:  func(a, b *Mux) []netip.AddrPort { return []netip.AddrPort{a.LocalAddr()} },
			bNonce: NewNonce(),
		},
		{
			name:  "nobody there",
			aSees: func(a, b *Mux) []netip.AddrPort { return []netip.AddrPort{dead} },
			bSees: func(a, b *Mux) []netip.AddrPort { return nil },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newMux(t), newMux(t)
			nonce := NewNonce()
			bNonce := nonce
			if tc.bNonce != nil {
				bNonce = tc.bNonce
			}
			pa, pb, ea, eb := punchBoth(a, b,
				PunchConfig{Nonce: nonce, Candidates: tc.aSees(a, b), Timeout: 700 * time.Millisecond},
				PunchConfig{Nonce: bNonce, Candidates: tc.bSees(a, b), Timeout: 700 * time.Millisecond})
			if !tc.wantDirect {
				if !errors.Is(ea, ErrNoPath) || !errors.Is(eb, ErrNoPath) {
					t.Fatalf("punch: a %v %v, b %v %v; want ErrNoPath on both", pa, ea, pb, eb)
				}
				return
			}
			if ea != nil || eb != nil {
				t.Fatalf("punch: a: %v, b: %v", ea, eb)
			}
			if pa.Remote != b.LocalAddr() || pb.Remote != a.LocalAddr() {
				t.Errorf("paths a->%s, b->%s; want a->%s, b->%s", pa.Remote, pb.Remote, b.LocalAddr(), a.LocalAddr())
			}
			if pa.PeerReflexive != tc.wantPeerReflexA {
				t.Errorf("a's path peer-reflexive = %v, want %v", pa.PeerReflexive, tc.wantPeerReflexA)
			}
		})
	}
}

// punchBoth punches from a and b at once and returns both results.
func punchBoth(a, b *Mux, ca, cb PunchConfig) (pa, pb Path, ea, eb error) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pa, ea = a.Punch(context.Background(), ca) }()
	go func() { defer wg.Done(); pb, eb = b.Punch(context.Background(), cb) }()
	wg.Wait()
	return
}

// TestQUICBesideSTUNAndPunch runs QUIC between two Muxes while the same sockets
// answer STUN and punch packets: the three share a socket without stepping on each other.
func TestQUICBesideSTUNAndPunch(t *testing.T) {
	reflector, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	natlab.RunSTUN(t, reflector)
	a, b := newMux(t), newMux(t)
	nonce := NewNonce()
	pa, _, ea, eb := punchBoth(a, b, PunchConfig{Nonce: nonce, Candidates: []netip.AddrPort{b.LocalAddr()}},
		PunchConfig{Nonce: nonce, Candidates: []netip.AddrPort{a.LocalAddr()}})
	if ea != nil || eb != nil {
		t.Fatalf("punch: %v, %v", ea, eb)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // STUN and punch traffic on both sockets during the QUIC exchange
		defer wg.Done()
		for ctx.Err() == nil {
			bctx, bcancel := context.WithTimeout(ctx, time.Second)
			if _, err := a.Binding(bctx, reflector.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil && ctx.Err() == nil {
				t.Errorf("binding during QUIC: %v", err)
			}
			bcancel()
			_, _ = b.WriteTo(keepalivePacket, net.UDPAddrFromAddrPort(a.LocalAddr()))
		}
	}()
	err = quicEcho(t, b.PacketConn(), a.PacketConn(), net.UDPAddrFromAddrPort(pa.Remote))
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatalf("QUIC over the demultiplexed sockets: %v", err)
	}
}

func TestPacketConnReadDeadline(t *testing.T) {
	m := newMux(t)
	pc := m.PacketConn()
	_ = pc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	_, _, err := pc.ReadFrom(make([]byte, 10))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadFrom after the deadline = %v, want os.ErrDeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("deadline of 50 ms fired after %v", d)
	}
	// Moving the deadline into the past wakes a blocked reader, as quic-go's Close needs.
	_ = pc.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() { _, _, err := pc.ReadFrom(make([]byte, 10)); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	_ = pc.SetReadDeadline(time.Now())
	if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("blocked ReadFrom after SetReadDeadline(now) = %v", err)
	}
}

func TestKeepaliveSendsEveryInterval(t *testing.T) {
	m := newMux(t)
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 350*time.Millisecond)
	defer cancel()
	if err := Keepalive(ctx, m, sink.LocalAddr(), 100*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Keepalive returned %v, want its context's error", err)
	}
	n := 0
	buf := make([]byte, 100)
	for {
		_ = sink.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		k, _, err := sink.ReadFrom(buf)
		if err != nil {
			break
		}
		if Classify(buf[:k]) != Punch {
			t.Errorf("keepalive %x is not a punch-format packet", buf[:k])
		}
		n++
	}
	if n < 3 || n > 5 {
		t.Errorf("%d keepalives in 350 ms at a 100 ms interval, want 4 (3 to 5)", n)
	}
}

// sendNumbered sends n datagrams of different lengths with the QUIC fixed bit from a
// new socket to m and returns what was sent.
func sendNumbered(t *testing.T, m *Mux, n int) [][]byte {
	t.Helper()
	from, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { from.Close() })
	var sent [][]byte
	for i := range n {
		p := bytes.Repeat([]byte{0x40 | byte(i%16)}, 100+i)
		if _, err := from.WriteToUDPAddrPort(p, m.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, p)
	}
	return sent
}

// readAll reads len(want) datagrams from pc and checks each against want, in order.
func readAll(t *testing.T, pc net.PacketConn, want [][]byte) {
	t.Helper()
	buf := make([]byte, 2048)
	for i, w := range want {
		_ = pc.SetReadDeadline(time.Now().Add(time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("datagram %d of %d: %v", i+1, len(want), err)
		}
		if !bytes.Equal(buf[:n], w) {
			t.Fatalf("datagram %d of %d: %d bytes, want %d", i+1, len(want), n, len(w))
		}
	}
}

// TestMuxQueuesWhileNobodyReads: with the default configuration, datagrams that
// arrive while nobody reads wait in the queue (up to 1,024), each as it arrived.
func TestMuxQueuesWhileNobodyReads(t *testing.T) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadBuffer(4 << 20) // the kernel's own queue is not what is tested
	m := muxOn(t, conn)
	sent := sendNumbered(t, m, 200)
	time.Sleep(100 * time.Millisecond) // all routed, none read
	readAll(t, m.PacketConn(), sent)
}

// TestDivertReplaced: a second Divert of an address replaces the first, and closing
// the first then leaves the second in place.
func TestDivertReplaced(t *testing.T) {
	m := newMux(t)
	from, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	addr := from.LocalAddr().(*net.UDPAddr).AddrPort()
	first := m.Divert(addr)
	second := m.Divert(addr)
	defer second.Close()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	p := []byte{0x40, 1, 2, 3}
	if _, err := from.WriteToUDPAddrPort(p, m.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	readAll(t, second, [][]byte{p})
}

// TestPacketConnClose: closing the QUIC side (which has no close hook) ends its reads
// and leaves the socket to the Mux.
func TestPacketConnClose(t *testing.T) {
	m := newMux(t)
	if err := m.PacketConn().Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.PacketConn().ReadFrom(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadFrom after Close: %v, want net.ErrClosed", err)
	}
	if _, err := m.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(m.LocalAddr())); err != nil {
		t.Errorf("the Mux's socket after its QUIC side closed: %v", err)
	}
}
