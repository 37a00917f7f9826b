package rendezvous_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/nat"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/redistest"
)

// TestTURNInstanceLost relays Alice's traffic to Bob through the TURN server of
// instance A, stops A mid-session, and has Alice allocate again on instance B with
// credentials from B: the traffic flows again through the new relay. It runs at the
// level of peer/nat and rendezvous instances (the daemon's NAT traversal drives the
// same calls).
func TestTURNInstanceLost(t *testing.T) {
	t.Parallel() // mostly waiting: failovers, keepalives
	r := redistest.Start(t)
	cfg := rendezvous.Config{RedisURL: r.URL(), TURNSecret: "turn-secret", TURNAllowPrivate: true, RateLimit: noRateLimit}
	a, b := rendezvoustest.Start(t, cfg), rendezvoustest.Start(t, cfg)
	alice := rendezvoustest.NewKey(t)
	if _, err := a.Client(t).Register(ctxFor(t), &rendezvousv1.RegisterRequest{
		Record: rendezvoustest.Registration(t, alice, time.Now(), time.Minute, "192.0.2.1:4000")}); err != nil {
		t.Fatal(err)
	}
	bob := udpSocket(t)

	a.ConnectTo(t, bob.LocalAddr().String()) // a relay is only for a peer being connected to
	relayA := allocate(t, a, alice)
	exchange(t, relayA, bob, "through A")
	if err := a.Instance.Stop(); err != nil {
		t.Fatal(err)
	}
	bob.WriteTo([]byte("anyone?"), relayA.Conn.LocalAddr())
	relayA.Conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if _, _, err := relayA.Conn.ReadFrom(make([]byte, 64)); err == nil {
		t.Fatal("the relay on the stopped instance still delivers")
	}

	b.ConnectTo(t, bob.LocalAddr().String())
	relayB := allocate(t, b, alice)
	if relayB.Addr == relayA.Addr {
		t.Fatalf("B gave the relay address of A: %v", relayB.Addr)
	}
	exchange(t, relayB, bob, "through B after A was lost")
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func udpSocket(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// allocate asks srv for TURN credentials as k and allocates a relay on srv's TURN
// server from a fresh socket.
func allocate(t *testing.T, srv *rendezvoustest.Server, k *identity.Key) *nat.Relay {
	t.Helper()
	creds, err := srv.Client(t).TurnCredentials(ctxFor(t), &rendezvousv1.TurnCredentialsRequest{
		Auth: rendezvoustest.Auth(t, k, identity.ContextTurnCredentials, time.Now())})
	if err != nil {
		t.Fatalf("TurnCredentials from %s: %v", srv.GRPC, err)
	}
	relay, err := nat.AllocateTURN(ctxFor(t), udpSocket(t), nat.TURNConfig{
		Server: netip.MustParseAddrPort(srv.STUN), Username: creds.GetUsername(), Password: creds.GetPassword()})
	if err != nil {
		t.Fatalf("allocate on %s: %v", srv.STUN, err)
	}
	t.Cleanup(func() { relay.Close() })
	return relay
}

// exchange sends a datagram from the relay to peer and one back, and fails t unless
// both arrive.
func exchange(t *testing.T, relay *nat.Relay, peer *net.UDPConn, what string) {
	t.Helper()
	if _, err := relay.Conn.WriteTo([]byte("ping"), peer.LocalAddr()); err != nil {
		t.Fatalf("%s: write: %v", what, err)
	}
	buf := make([]byte, 64)
	peer.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, from, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("%s: the peer got %q, %v; want ping", what, buf[:n], err)
	}
	if got := from.(*net.UDPAddr).AddrPort(); netip.AddrPortFrom(got.Addr().Unmap(), got.Port()) != relay.Addr {
		t.Fatalf("%s: ping came from %v, want the relay %v", what, got, relay.Addr)
	}
	peer.WriteTo([]byte("pong"), from)
	relay.Conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err = relay.Conn.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("%s: Alice got %q, %v; want pong", what, buf[:n], err)
	}
}
