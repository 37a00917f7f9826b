package daemon_test

import (
	"context"
	"crypto/rand"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/daemon"
	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/nat"
	"github.com/kithnet/kith/peer/reach"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/transport"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/shared/identity"
)

// newRendezvousPeer starts a node in rendezvous mode on a loopback socket, registered
// with the servers, until t ends.
func newRendezvousPeer(t *testing.T, name string, servers []string, punch, upgrade time.Duration) *peer {
	t.Helper()
	return newRendezvousPeerWith(t, name, reach.Config{Servers: servers, PunchTimeout: punch, UpgradeEvery: upgrade})
}

// newRendezvousPeerWith is newRendezvousPeer with a whole reach.Config (its Mux is
// made here).
func newRendezvousPeerWith(t *testing.T, name string, tc reach.Config) *peer {
	t.Helper()
	key, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Config{Home: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Init(key, name); err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	mux := nat.NewMux(udp, nat.MuxConfig{})
	t.Cleanup(func() { mux.Close() })
	tc.Mux = mux
	node, err := daemon.Start(daemon.Config{Store: st, PacketConn: mux.PacketConn(), Logger: quietLogger(), Retry: 200 * time.Millisecond,
		Reach: &tc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); node.Traverse(ctx) }()
	go func() { defer wg.Done(); node.Follow(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait(); node.Close() })
	waitFor(t, name+" registered with a reflexive address", func() bool {
		s := node.RendezvousStatus()
		return s.GetRegistered() && s.GetReflexiveAddress() != ""
	})
	return &peer{name: name, key: key, st: st, node: node}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for: %s", what)
		}
	}
}

// TestRendezvousMode connects friends known only by ID through an in-process
// rendezvous on loopback: by punching; through its TURN relay when punching is off;
// and through the relay first, then directly once a later punch works.
func TestRendezvousMode(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNAllowPrivate: true})
	for _, tc := range []struct {
		name    string
		punch   time.Duration
		upgrade time.Duration
		path    string
	}{
		{"punched", 0, 0, transport.Direct},
		{"relayed", -1, 0, transport.Relay},
		{"relayed-then-direct", -1, 300 * time.Millisecond, transport.Direct},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newRendezvousPeer(t, "alice", []string{rv.GRPC}, tc.punch, tc.upgrade)
			b := newRendezvousPeer(t, "bob", []string{rv.GRPC}, tc.punch, tc.upgrade)
			for _, p := range [][2]*peer{{a, b}, {b, a}} {
				if err := p[0].st.PutFriend(store.Friend{Key: p[1].pub(), Name: p[1].name}); err != nil {
					t.Fatal(err)
				}
			}
			id := a.publish(t, "hello through the rendezvous", feed.Audience{Friends: true})
			b.sync(t, a)
			if ok, _, _ := b.holds(t, a, id); !ok {
				t.Fatalf("bob does not hold alice's post after a sync")
			}
			if tc.upgrade > 0 {
				waitFor(t, "bob connected to alice through the relay first", func() bool {
					for _, c := range b.node.Peers() {
						if c.ID == a.key.ID() && c.Path == transport.Relay {
							return true
						}
					}
					return false
				})
			}
			for _, p := range []*peer{a, b} {
				other := map[*peer]*peer{a: b, b: a}[p]
				waitFor(t, p.name+" connected to "+other.name+" only on path "+tc.path, func() bool {
					n := 0
					for _, c := range p.node.Peers() {
						if c.ID != other.key.ID() {
							continue
						}
						if c.Path != tc.path || c.Remote == "" {
							return false
						}
						n++
					}
					return n > 0
				})
			}
		})
	}
}
