package turn_test

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/rendezvous/turn"
)

// connectTo has a fresh caller Connect through srv to a listening peer at candidates.
func connectTo(t *testing.T, srv *rendezvoustest.Server, candidates ...string) {
	t.Helper()
	srv.ConnectTo(t, candidates...)
}

// Issue 13 item 13: a fresh key gets no relay; a client connecting to a listening peer
// gets one that relays only towards that peer; allocations are bounded per source address
// and in total, whatever number of keys a client uses. Real pion TURN clients.
func TestRelayOnlyForAConnect(t *testing.T) {
	t.Run("no Connect, no relay", func(t *testing.T) {
		srv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret"})
		for i := range 3 {
			if _, _, err := client(t, srv.STUN, "s3cret", "fresh-key-"+string(rune('a'+i))); err == nil {
				t.Fatal("a key that connects to nobody got a relay")
			}
		}
	})
	t.Run("relay towards the target only", func(t *testing.T) {
		srv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret"})
		connectTo(t, srv, "198.51.100.7:4700")
		_, relay, err := client(t, srv.STUN, "s3cret", "caller")
		if err != nil {
			t.Fatalf("allocate after a Connect: %v", err)
		}
		if _, err := relay.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(198, 51, 100, 7), Port: 4700}); err != nil {
			t.Errorf("relay to the target was refused: %v", err)
		}
		for _, other := range []string{"203.0.113.9:53", "8.8.8.8:53", "198.51.100.8:4700"} {
			if _, err := relay.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(other))); err == nil {
				t.Errorf("relay to %s, which nobody is connecting to, was permitted", other)
			}
		}
	})
	t.Run("bounded per source address", func(t *testing.T) {
		srv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNPerIP: 3})
		connectTo(t, srv, "198.51.100.7:4700")
		got := 0
		for i := range 20 { // 20 keys from one address
			if _, _, err := client(t, srv.STUN, "s3cret", "key-"+strings.Repeat("x", i)); err == nil {
				got++
			}
		}
		if got != 3 {
			t.Errorf("20 keys from one address got %d allocations, want 3", got)
		}
	})
	t.Run("bounded in total", func(t *testing.T) {
		srv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNTotal: 2, TURNPerIP: 100})
		connectTo(t, srv, "198.51.100.7:4700")
		got := 0
		for i := range 5 {
			if _, _, err := client(t, srv.STUN, "s3cret", "key-"+strings.Repeat("y", i)); err == nil {
				got++
			}
		}
		if got != 2 {
			t.Errorf("%d allocations with a total of 2", got)
		}
	})
}

// Grants expire: a Connect long ago allows nothing.
func TestGrantsExpire(t *testing.T) {
	now := time.Unix(1000, 0)
	g := turn.NewGrants(time.Minute, func() time.Time { return now })
	client, peer := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.7")
	if g.MayAllocate(client) {
		t.Fatal("an empty table lets a client allocate")
	}
	g.Grant(client, []netip.Addr{peer})
	if !g.MayAllocate(client) || !g.MayRelay(client, peer) || g.MayRelay(client, netip.MustParseAddr("198.51.100.8")) {
		t.Fatal("a fresh grant does not allow exactly its peer")
	}
	if g.MayAllocate(netip.MustParseAddr("192.0.2.2")) {
		t.Error("another client address rides on the grant")
	}
	now = now.Add(time.Minute)
	if g.MayAllocate(client) || g.MayRelay(client, peer) {
		t.Error("an expired grant still allows")
	}
}
