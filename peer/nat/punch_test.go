package nat

import (
	"context"
	"errors"
	"net"
	"net/netip"
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
	const interval = 200 * time.Millisecond
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
