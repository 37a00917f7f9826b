package nat

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawPeer is a bare UDP socket that speaks punch packets by hand, as an attacker (or a
// test's control) would.
type rawPeer struct {
	t    *testing.T
	conn *net.UDPConn
}

func newRawPeer(t *testing.T) rawPeer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return rawPeer{t: t, conn: c}
}

func (r rawPeer) addr() netip.AddrPort { return r.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (r rawPeer) send(p Packet, to netip.AddrPort) {
	r.t.Helper()
	if _, err := r.conn.WriteToUDPAddrPort(p.Marshal(), to); err != nil {
		r.t.Fatal(err)
	}
}

// recv returns the next punch packet within d, or false.
func (r rawPeer) recv(d time.Duration) (Packet, bool) {
	r.t.Helper()
	buf := make([]byte, 1500)
	_ = r.conn.SetReadDeadline(time.Now().Add(d))
	for {
		n, err := r.conn.Read(buf)
		if err != nil {
			return Packet{}, false
		}
		if p, err := ParsePacket(buf[:n]); err == nil {
			return p, true
		}
	}
}

// TestPunchDropsForgedPackets sends the Mux, while a punch session is open, packets
// that name the session's ID but carry a wrong tag: whoever does not hold the nonce
// must get no pong, must not become a punch target, and cannot complete the punch.
// A ping with the right tag, from a control socket, shows the session is live and
// answered.
func TestPunchDropsForgedPackets(t *testing.T) {
	m := newMux(t)
	nonce := NewNonce()
	dead := netip.MustParseAddrPort("127.0.0.1:9")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := m.Punch(ctx, PunchConfig{Nonce: nonce, Candidates: []netip.AddrPort{dead},
			Timeout: 10 * time.Second, Interval: 50 * time.Millisecond})
		done <- err
	}()

	// The control: a correctly signed ping is answered with a correctly signed pong
	// echoing its transaction, once the session is registered.
	control := newRawPeer(t)
	ping := Packet{Kind: Ping, Tx: [8]byte{1, 2, 3}}
	ping.Sign(nonce)
	answered := false
	for i := 0; i < 50 && !answered; i++ {
		control.send(ping, m.LocalAddr())
		for p, ok := control.recv(100 * time.Millisecond); ok; p, ok = control.recv(100 * time.Millisecond) {
			if p.Kind == Pong && p.Tx == ping.Tx && p.Verify(nonce) {
				answered = true
				break
			}
		}
	}
	if !answered {
		t.Fatal("a correctly signed ping got no pong: the session never opened")
	}

	attacker := newRawPeer(t)
	wrongKey := NewNonce()
	forgeries := map[string]Packet{}
	p := Packet{Kind: Ping, Tx: [8]byte{9}}
	p.Sign(wrongKey)
	p.Session = SessionID(nonce) // the session's ID, a tag made with another key
	forgeries["ping tagged with another key"] = p
	p = ping
	p.Tx = [8]byte{7, 7} // the control's tag over another transaction
	forgeries["ping with a replayed tag"] = p
	p = Packet{Kind: Ping, Tx: [8]byte{5}, Session: SessionID(nonce)}
	forgeries["ping with a zero tag"] = p
	p = Packet{Kind: Pong, Tx: ping.Tx, Session: SessionID(nonce)}
	p.Tag = ping.Tag
	forgeries["pong with a copied tag"] = p
	for name, f := range forgeries {
		attacker.send(f, m.LocalAddr())
		if got, ok := attacker.recv(400 * time.Millisecond); ok {
			t.Errorf("%s: the attacker got a packet of kind %d back; a packet without the session's tag must be dropped", name, got.Kind)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("a forged packet ended the punch: %v", err)
	default:
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("punch ended with %v, want the cancellation", err)
	}
}

// TestPunchIgnoresUnknownSessions: a correctly tagged ping of a session this Mux does
// not run gets nothing back.
func TestPunchIgnoresUnknownSessions(t *testing.T) {
	m := newMux(t)
	r := newRawPeer(t)
	p := Packet{Kind: Ping, Tx: [8]byte{1}}
	p.Sign(NewNonce())
	r.send(p, m.LocalAddr())
	if got, ok := r.recv(300 * time.Millisecond); ok {
		t.Fatalf("a ping of an unknown session got a packet of kind %d back", got.Kind)
	}
}

// TestPunchNonceLength: a nonce of MinNonceLen bytes is enough, one byte less is refused
// before anything is sent.
func TestPunchNonceLength(t *testing.T) {
	m := newMux(t)
	dead := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9")}
	if _, err := m.Punch(context.Background(), PunchConfig{Nonce: make([]byte, MinNonceLen-1), Candidates: dead}); !errors.Is(err, ErrShortNonce) {
		t.Fatalf("a %d-byte nonce: %v, want ErrShortNonce", MinNonceLen-1, err)
	}
	_, err := m.Punch(context.Background(), PunchConfig{Nonce: make([]byte, MinNonceLen), Candidates: dead, Timeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrNoPath) {
		t.Fatalf("a %d-byte nonce: %v, want the attempt to run and find no path", MinNonceLen, err)
	}
}

// TestPunchLingers: after Punch returns, the Mux answers the friend's pings for at least
// three Intervals (even with a shorter Linger), so the friend's side completes too; after
// that the session is gone and pings get nothing.
func TestPunchLingers(t *testing.T) {
	m := newMux(t)
	friend := newRawPeer(t)
	nonce := NewNonce()
	const interval = 100 * time.Millisecond
	done := make(chan error, 1)
	go func() {
		_, err := m.Punch(context.Background(), PunchConfig{Nonce: nonce, Candidates: []netip.AddrPort{friend.addr()},
			Timeout: 5 * time.Second, Interval: interval, Linger: 10 * time.Millisecond})
		done <- err
	}()
	// Answer the Mux's first ping: its punch completes.
	for {
		p, ok := friend.recv(3 * time.Second)
		if !ok {
			t.Fatal("the punch sent no ping")
		}
		if p.Kind == Ping && p.Verify(nonce) {
			pong := Packet{Kind: Pong, Tx: p.Tx}
			pong.Sign(nonce)
			friend.send(pong, m.LocalAddr())
			break
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("punch: %v", err)
	}
	pinged := func(tx byte) bool {
		ping := Packet{Kind: Ping, Tx: [8]byte{tx}}
		ping.Sign(nonce)
		friend.send(ping, m.LocalAddr())
		for p, ok := friend.recv(150 * time.Millisecond); ok; p, ok = friend.recv(150 * time.Millisecond) {
			if p.Kind == Pong && p.Tx == ping.Tx {
				return true
			}
		}
		return false
	}
	time.Sleep(interval) // the friend's next round, one Interval later
	if !pinged(1) {
		t.Fatal("a ping one Interval after the punch got no pong: the session must linger three Intervals")
	}
	time.Sleep(4 * interval)
	if pinged(2) {
		t.Fatal("a ping long after the linger got a pong")
	}
}

// answers reports whether m answers a ping signed with nonce, sent from r, with a pong
// within about a second.
func (r rawPeer) answers(m *Mux, nonce []byte, tx byte) bool {
	r.t.Helper()
	ping := Packet{Kind: Ping, Tx: [8]byte{tx, 0xee}}
	ping.Sign(nonce)
	for i := 0; i < 5; i++ {
		r.send(ping, m.LocalAddr())
		for p, ok := r.recv(200 * time.Millisecond); ok; p, ok = r.recv(200 * time.Millisecond) {
			if p.Kind == Pong && p.Tx == ping.Tx && p.Verify(nonce) {
				return true
			}
		}
	}
	return false
}

// TestPunchKeepsOtherSessions: a new Punch on the same Mux forgets only sessions whose
// linger is over; a running punch and one still lingering keep being answered.
func TestPunchKeepsOtherSessions(t *testing.T) {
	m := newMux(t)
	dead := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9")}
	control, friend := newRawPeer(t), newRawPeer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	running := NewNonce()
	go m.Punch(ctx, PunchConfig{Nonce: running, Candidates: dead, Timeout: 20 * time.Second})
	if !control.answers(m, running, 1) {
		t.Fatal("the running punch does not answer")
	}

	// A second punch, which completes and then lingers for a second.
	lingering := NewNonce()
	done := make(chan error, 1)
	go func() {
		_, err := m.Punch(ctx, PunchConfig{Nonce: lingering, Candidates: []netip.AddrPort{friend.addr()},
			Timeout: 5 * time.Second, Interval: 50 * time.Millisecond, Linger: time.Second})
		done <- err
	}()
	for {
		p, ok := friend.recv(3 * time.Second)
		if !ok {
			t.Fatal("the second punch sent no ping")
		}
		if p.Kind == Ping && p.Verify(lingering) {
			pong := Packet{Kind: Pong, Tx: p.Tx}
			pong.Sign(lingering)
			friend.send(pong, m.LocalAddr())
			break
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !control.answers(m, running, 2) {
		t.Error("starting a punch dropped a running one")
	}

	// A third punch starts while the second lingers: both earlier ones still answer.
	go m.Punch(ctx, PunchConfig{Nonce: NewNonce(), Candidates: dead, Timeout: 20 * time.Second})
	time.Sleep(50 * time.Millisecond)
	if !control.answers(m, lingering, 3) {
		t.Error("starting a punch dropped one still lingering")
	}
	if !control.answers(m, running, 4) {
		t.Error("starting a punch dropped a running one")
	}

	// Once the linger is over, the next punch forgets it.
	time.Sleep(1200 * time.Millisecond)
	go m.Punch(ctx, PunchConfig{Nonce: NewNonce(), Candidates: dead, Timeout: 20 * time.Second})
	for i := 0; ; i++ {
		m.mu.Lock()
		_, held := m.sessions[SessionID(lingering)]
		_, runs := m.sessions[SessionID(running)]
		m.mu.Unlock()
		if !held && runs {
			break
		}
		if i == 100 {
			t.Fatalf("after its linger: session held %v (want forgotten), running one held %v", held, runs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPunchLogsOnlyFailedSends: a ping or pong that cannot be sent is logged; one that
// is sent is not.
func TestPunchLogsOnlyFailedSends(t *testing.T) {
	var log strings.Builder
	var mu sync.Mutex
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMux(conn, MuxConfig{Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &log}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	t.Cleanup(func() { m.Close() })
	logged := func() string { mu.Lock(); defer mu.Unlock(); return log.String() }
	control := newRawPeer(t)
	nonce := NewNonce()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Punch(ctx, PunchConfig{Nonce: nonce, Candidates: []netip.AddrPort{control.addr()}, Timeout: 600 * time.Millisecond, Interval: 50 * time.Millisecond})
	}()
	if !control.answers(m, nonce, 1) {
		t.Fatal("no pong")
	}
	<-done
	if l := logged(); strings.Contains(l, "nat: punch") || strings.Contains(l, "nat: pong") {
		t.Errorf("sent pings and pongs were logged as failures:\n%s", l)
	}
	// An IPv6 target from an IPv4 socket: every ping fails, and says so.
	m.Punch(context.Background(), PunchConfig{Nonce: nonce, Candidates: []netip.AddrPort{netip.MustParseAddrPort("[2001:db8::1]:9")}, Timeout: 200 * time.Millisecond})
	if l := logged(); !strings.Contains(l, "nat: punch") {
		t.Errorf("a ping that could not be sent was not logged:\n%s", l)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestSprayPorts(t *testing.T) {
	for _, n := range []int{0, 1, 2048, SprayRange, SprayRange + 5} {
		ports := sprayPorts(n)
		if want := min(n, SprayRange); len(ports) != want {
			t.Fatalf("sprayPorts(%d): %d ports, want %d", n, len(ports), want)
		}
		seen := map[uint16]bool{}
		for _, p := range ports {
			if p < 1024 {
				t.Fatalf("sprayPorts(%d) drew port %d, under 1024", n, p)
			}
			if seen[p] {
				t.Fatalf("sprayPorts(%d) drew port %d twice", n, p)
			}
			seen[p] = true
		}
	}
	if SprayRange != 64512 {
		t.Errorf("SprayRange %d, want 64512 (1024-65535)", SprayRange)
	}
	a, b := sprayPorts(64), sprayPorts(64)
	if slices.Equal(a, b) {
		t.Errorf("two draws of 64 ports are equal: not random")
	}
}

// TestPreferIPv6: with PreferIPv6 an IPv4 path that answers first waits up to two
// intervals for an IPv6 one, which wins (here the IPv6 peer's session starts after
// the first round, so IPv4 always answers first); without IPv6 targets, or when none
// answers, the IPv4 path is returned (after the grace at most).
func TestPreferIPv6(t *testing.T) {
	listen := func(network string, ip net.IP) *Mux {
		c, err := net.ListenUDP(network, &net.UDPAddr{IP: ip})
		if err != nil {
			t.Skipf("no %s loopback here: %v", network, err)
		}
		return muxOn(t, c)
	}
	a := listen("udp", net.IPv6unspecified)
	v4, v6 := listen("udp4", net.IPv4(127, 0, 0, 1)), listen("udp6", net.IPv6loopback)
	silent6 := netip.AddrPortFrom(netip.IPv6Loopback(), listen("udp6", net.IPv6loopback).LocalAddr().Port()) // no session: never answers
	const interval = 100 * time.Millisecond
	for _, tc := range []struct {
		name   string
		cands  []netip.AddrPort
		prefer bool
		want   netip.AddrPort
		within time.Duration
	}{
		{"ipv6 answers: it wins", []netip.AddrPort{v4.LocalAddr(), v6.LocalAddr()}, true, v6.LocalAddr(), 2 * interval},
		{"not preferred: ipv4 at once", []netip.AddrPort{v4.LocalAddr(), v6.LocalAddr()}, false, v4.LocalAddr(), interval / 2},
		{"no ipv6 target: ipv4 at once", []netip.AddrPort{v4.LocalAddr()}, true, v4.LocalAddr(), interval / 2},
		{"ipv6 silent: ipv4 after the grace", []netip.AddrPort{v4.LocalAddr(), silent6}, true, v4.LocalAddr(), 3 * interval},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nonce := NewNonce()
			go v4.Punch(context.Background(), PunchConfig{Nonce: nonce, Timeout: time.Second, Interval: interval})
			time.Sleep(20 * time.Millisecond) // its session exists
			go func() {
				time.Sleep(interval / 2) // after a's first round: IPv6 answers only its second
				v6.Punch(context.Background(), PunchConfig{Nonce: nonce, Timeout: time.Second, Interval: interval})
			}()
			start := time.Now()
			p, err := a.Punch(context.Background(), PunchConfig{Nonce: nonce, Candidates: tc.cands, Timeout: time.Second,
				Interval: interval, PreferIPv6: tc.prefer})
			took := time.Since(start)
			if err != nil || p.Remote != tc.want {
				t.Fatalf("path %v, %v; want %v", p.Remote, err, tc.want)
			}
			if took > tc.within {
				t.Errorf("took %v, want at most %v", took, tc.within)
			}
			time.Sleep(interval) // the IPv6 peer's session exists before the next case
		})
	}
}
