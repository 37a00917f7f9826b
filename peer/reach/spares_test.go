package reach

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/nat"
	"github.com/kithnet/kith/peer/transport"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/natlab"
)

// hardAgent is an agent on a loopback Mux, running (spawn works) until t ends, as the
// hard side of the birthday method; serves counts the listeners handed to Serve.
func hardAgent(t *testing.T) (*Agent, *int) {
	t.Helper()
	k := mustKey(t)
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	mux := nat.NewMux(udp, nat.MuxConfig{})
	t.Cleanup(func() { mux.Close() })
	tr, err := transport.New(transport.Config{Key: k, PacketConn: mux.PacketConn(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	var mu sync.Mutex
	serves := new(int)
	a, err := New(Config{Key: k, Transport: tr, Mux: mux, Logger: testLogger(), KeepAlive: time.Second,
		Serve: func(net.Listener) { mu.Lock(); *serves++; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.mu.Lock()
	a.ctx = ctx // what Run does in rendezvous mode
	a.mu.Unlock()
	t.Cleanup(func() { cancel(); a.wg.Wait(); a.Close() })
	return a, serves
}

// easyPeer is the other side on loopback: a Mux answering the attempt's pings (and
// pinging back those it heard, as a punch does) with a transport that accepts QUIC.
func easyPeer(t *testing.T, nonce []byte) (*nat.Mux, identity.PublicKey) {
	t.Helper()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	m := nat.NewMux(udp, nat.MuxConfig{})
	t.Cleanup(func() { m.Close() })
	k := mustKey(t)
	tr, err := transport.New(transport.Config{Key: k, PacketConn: m.PacketConn(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	acceptAndHold(t, tr)
	go m.Punch(context.Background(), nat.PunchConfig{Nonce: nonce, Timeout: 5 * time.Second})
	time.Sleep(20 * time.Millisecond) // its session exists
	return m, k.Public()
}

// TestSpares: the hard side opens its spare sockets, one of them is reached, and only
// that one is kept, with a transport that dials QUIC and serves the sync API; closing
// the spares forgets the paths through them.
func TestSpares(t *testing.T) {
	a, serves := hardAgent(t)
	nonce := nat.NewNonce()
	easy, easyKey := easyPeer(t, nonce)
	p, err := a.spares(context.Background(), nonce, []netip.AddrPort{easy.LocalAddr()}, 3*time.Second)
	if err != nil {
		t.Fatalf("spares: %v", err)
	}
	if p.tr == a.cfg.Transport || p.addr.String() != easy.LocalAddr().String() || p.kind != Direct {
		t.Fatalf("path %+v: want the easy side's address on a spare's own transport", p)
	}
	a.mu.Lock()
	kept := len(a.spareSocks)
	a.mu.Unlock()
	if kept != 1 || *serves != 1 {
		t.Fatalf("%d spare sockets kept, %d served; want 1 and 1", kept, *serves)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := p.tr.Dial(ctx, p.addr, easyKey)
	if err != nil {
		t.Fatalf("QUIC from the spare socket: %v", err)
	}
	c.Close()
	a.remember(easyKey, p)
	if _, ok := a.bestPath(easyKey); !ok {
		t.Fatal("the path through the spare is not remembered")
	}
	a.closeSpares()
	if _, ok := a.bestPath(easyKey); ok {
		t.Error("closing the spares left a path through them")
	}
	a.mu.Lock()
	kept = len(a.spareSocks)
	a.mu.Unlock()
	if kept != 0 {
		t.Errorf("%d spare sockets left after closeSpares", kept)
	}
}

// TestSparesBounds: nothing reaches the spares (no easy side): no path after the
// timeout and nothing kept; more than maxBirthdays attempts at once are refused.
func TestSparesBounds(t *testing.T) {
	a, _ := hardAgent(t)
	silent, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	to := []netip.AddrPort{silent.LocalAddr().(*net.UDPAddr).AddrPort()}
	start := time.Now()
	if _, err := a.spares(context.Background(), nat.NewNonce(), to, 300*time.Millisecond); !errors.Is(err, nat.ErrNoPath) {
		t.Fatalf("spares towards a silent address: %v, want ErrNoPath", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("spares took %v with a 300 ms timeout", d)
	}
	if len(a.spareSocks) != 0 || a.birthdays != 0 {
		t.Errorf("after a miss: %d spares kept, %d attempts counted; want 0 and 0", len(a.spareSocks), a.birthdays)
	}
	for _, tc := range []struct {
		running int
		busy    bool
	}{{maxBirthdays, true}, {maxBirthdays - 1, false}} {
		a.mu.Lock()
		a.birthdays = tc.running
		a.mu.Unlock()
		_, err := a.spares(context.Background(), nat.NewNonce(), to, 100*time.Millisecond)
		if errors.Is(err, errBusy) != tc.busy {
			t.Errorf("with %d attempts running: %v, want busy %v", tc.running, err, tc.busy)
		}
	}
}

// TestPunchPathHardSide: as the hard side, the spares and the main socket race; the
// spare that is reached wins when the main punch finds nothing.
func TestPunchPathHardSide(t *testing.T) {
	a, _ := hardAgent(t)
	nonce := nat.NewNonce()
	easy, _ := easyPeer(t, nonce)
	b := birthday{role: hardSide, towards: []netip.AddrPort{easy.LocalAddr()}}
	// The main punch aims nowhere useful: only a spare can win.
	p, err := a.punchPath(context.Background(), nat.PunchConfig{Nonce: nonce, Timeout: 2 * time.Second,
		Candidates: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9")}}, b)
	if err != nil {
		t.Fatalf("punchPath as the hard side: %v", err)
	}
	if p.tr == a.cfg.Transport {
		t.Errorf("the path runs on the main socket; want a spare's")
	}
	// Without the birthday role the same punch finds nothing.
	if _, err := a.punchPath(context.Background(), nat.PunchConfig{Nonce: nonce, Timeout: 300 * time.Millisecond,
		Candidates: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9")}}, birthday{}); err == nil {
		t.Error("a plain punch towards nothing found a path")
	}
}

// TestMeasureMapping: two STUN servers that see the same address (no NAT on loopback)
// give an endpoint-independent mapping, measured once; one server measures nothing.
func TestMeasureMapping(t *testing.T) {
	a, _ := hardAgent(t)
	var servers []netip.AddrPort
	for range 2 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		natlab.RunSTUN(t, c)
		servers = append(servers, c.LocalAddr().(*net.UDPAddr).AddrPort())
	}
	first := a.cfg.Mux.LocalAddr()
	a.measureMapping(context.Background(), servers[:1], first)
	if m := a.mapping(); m != unknown {
		t.Fatalf("one STUN server: mapping %v, want unspecified", m)
	}
	a.measureMapping(context.Background(), servers, first)
	if m := a.mapping(); m != ei {
		t.Fatalf("same address from both servers: mapping %v, want endpoint-independent", m)
	}
	// Measured once per second server: a later call with another first address changes nothing.
	a.measureMapping(context.Background(), servers, netip.MustParseAddrPort("127.0.0.1:1"))
	if m := a.mapping(); m != ei {
		t.Errorf("measured again: %v", m)
	}
	a.mappingOf = netip.AddrPort{}
	a.measureMapping(context.Background(), servers, netip.MustParseAddrPort("127.0.0.1:1"))
	if m := a.mapping(); m != ed {
		t.Errorf("another port from the second server: %v, want endpoint-dependent", m)
	}
}
