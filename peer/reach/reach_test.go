package reach

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/nat"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/transport"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/shared/identity"
)

// node is an agent on a loopback socket with a real store as its Book, registered with
// an in-process rendezvous; its transport accepts connections (no service behind them).
type node struct {
	name  string
	key   *identity.Key
	st    *store.Store
	agent *Agent
	tr    *transport.Transport
	drops *dropLog // punch packets the node's socket received and dropped
	// served counts, by peer, the connections the node's listener handed on (the
	// sync API's place): those peers dialled, and those it dialled back.
	served *servedLog
}

// servedLog counts the connections a node's listener handed on, by peer.
type servedLog struct {
	mu   sync.Mutex
	from map[identity.ID]int
}

func (s *servedLog) add(id identity.ID) {
	s.mu.Lock()
	s.from[id]++
	s.mu.Unlock()
}

func (s *servedLog) count(id identity.ID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.from[id]
}

// dropLog records, from the Mux's debug log, where the punch packets it dropped (no
// session of ours) came from: what a peer put on the wire towards us unasked.
type dropLog struct {
	mu   sync.Mutex
	from map[string]int
}

func (d *dropLog) Enabled(context.Context, slog.Level) bool { return true }
func (d *dropLog) WithAttrs([]slog.Attr) slog.Handler       { return d }
func (d *dropLog) WithGroup(string) slog.Handler            { return d }
func (d *dropLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "nat: dropped punch packet" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "from" {
			d.mu.Lock()
			d.from[a.Value.String()]++
			d.mu.Unlock()
		}
		return true
	})
	return nil
}

func (d *dropLog) count(from string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.from[from]
}

func testLogger() *slog.Logger {
	if os.Getenv("KITH_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newNode starts a node in rendezvous mode until t ends, with cfg.Key when set (a
// device's), else a fresh identity.
func newNode(t *testing.T, name string, servers []string, cfg Config) *node {
	t.Helper()
	key, err := cfg.Key, error(nil)
	if key == nil {
		if key, err = identity.Generate(rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(store.Config{Home: t.TempDir(), Logger: testLogger()})
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
	drops := &dropLog{from: map[string]int{}}
	mux := nat.NewMux(udp, nat.MuxConfig{Logger: slog.New(drops)})
	t.Cleanup(func() { mux.Close() })
	tr, err := transport.New(transport.Config{Key: key, DeviceCertificate: cfg.DeviceCertificate, PacketConn: mux.PacketConn(), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	served := &servedLog{from: map[identity.ID]int{}}
	accept := func(ln net.Listener) {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				if tc, ok := c.(*transport.Conn); ok {
					served.add(tc.PeerKey().ID())
				}
				go func() { b := make([]byte, 64); c.Read(b) }()
			}
		}()
	}
	ln, err := tr.Listen()
	if err != nil {
		t.Fatal(err)
	}
	accept(ln)
	cfg.Key, cfg.Transport, cfg.Mux, cfg.Servers, cfg.Book, cfg.Logger, cfg.Serve = key, tr, mux, servers, storeBook{st}, testLogger(), accept
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); a.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait(); a.Close() })
	n := &node{name: name, key: key, st: st, agent: a, tr: tr, drops: drops, served: served}
	waitUntil(t, name+" registered with a reflexive address", func() bool {
		s := a.Status()
		return s.GetRegistered() && s.GetReflexiveAddress() != ""
	})
	return n
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for: %s", what)
		}
	}
}

func befriend(t *testing.T, a, b *node) {
	t.Helper()
	for _, p := range [][2]*node{{a, b}, {b, a}} {
		if err := p[0].st.PutFriend(store.Friend{Key: p[1].key.Public(), Name: p[1].name}); err != nil {
			t.Fatal(err)
		}
	}
}

// dial connects a to b, retrying for a few seconds (a Listen stream may attach a
// moment after the registration).
func dial(t *testing.T, a, b *node) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var c *Conn
		if c, err = a.agent.Dial(ctx, Target{Key: b.key.Public(), Name: b.name}); err == nil {
			t.Cleanup(func() { c.Close() })
			return c
		}
	}
	t.Fatalf("%s dials %s: %v", a.name, b.name, err)
	return nil
}

// TestDialThroughRendezvous: friends known only by ID connect through the rendezvous:
// directly when punching works or QUIC at the answered candidates does, through the
// relay when punching is off, and from the relay
// to a direct path (Better fires) once an upgrade round punches.
func TestDialThroughRendezvous(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNAllowPrivate: true})
	servers := []string{rv.GRPC}
	for _, tc := range []struct {
		name    string
		cfg     Config
		relayed bool
		better  bool
	}{
		{"punched", Config{}, false, false}, // (or relayed first under load, then Better)
		// A punch that gives up at once leaves only QUIC at the answered candidates
		// (both ends map endpoint-independently on loopback) to beat the relay.
		{"quic-first", Config{PunchTimeout: time.Nanosecond}, false, false},
		{"relayed", Config{PunchTimeout: -1}, true, false},
		{"relayed-then-direct", Config{PunchTimeout: -1, UpgradeEvery: 300 * time.Millisecond}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := newNode(t, "alice", servers, tc.cfg), newNode(t, "bob", servers, tc.cfg)
			befriend(t, a, b)
			c := dial(t, a, b)
			if !tc.relayed && c.Relayed() {
				// The relay won the race (a loaded machine): the punch goes on and
				// must prove the direct path.
				select {
				case <-c.Better():
					c = dial(t, a, b)
				case <-time.After(5 * time.Second):
				}
			}
			if c.Relayed() != tc.relayed {
				t.Fatalf("relayed = %v, want %v", c.Relayed(), tc.relayed)
			}
			if a.agent.Relayed(b.key.Public()) != tc.relayed {
				t.Fatalf("the best path known is relayed = %v, want %v", a.agent.Relayed(b.key.Public()), tc.relayed)
			}
			select {
			case <-c.Better():
				if !tc.better {
					t.Fatal("Better fired without a better path")
				}
				if a.agent.Relayed(b.key.Public()) {
					t.Fatal("Better fired, but the best path known is still the relay")
				}
				if c2 := dial(t, a, b); c2.Relayed() {
					t.Fatal("after Better, a new dial still took the relay")
				}
			case <-time.After(5 * time.Second):
				if tc.better {
					t.Fatal("no direct path replaced the relay within 5 s")
				}
			}
			path := transport.Direct
			if tc.relayed && !tc.better {
				path = transport.Relay
			}
			// The way that lost the race (stopped by the winner) must not forget the
			// path the winner proved: the next dial starts from it.
			if p, ok := a.agent.bestPath(b.key.Public()); !ok || (p.kind == Direct) != (path == transport.Direct) {
				t.Errorf("best path known after the dial: %v, %v; want one on path %s", p, ok, path)
			}
			waitUntil(t, "alice lists bob on path "+path, func() bool {
				for _, p := range a.agent.Peers() {
					if p.ID == b.key.ID() && p.Path == path {
						return true
					}
				}
				return false
			})
			if last, ok := a.st.LastPath(b.key.Public()); ok != (path == transport.Direct) {
				t.Errorf("last direct path kept: %v, %v; want one only after a direct path", last, ok)
			}
		})
	}
}

// TestCalleeFirst: an offer to a peer that has not added us is not answered and the
// caller sends it nothing: the dial fails saying so, and the peer's socket receives no
// packet from the caller. Once the peer adds us, the dial succeeds.
func TestCalleeFirst(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNAllowPrivate: true})
	servers := []string{rv.GRPC}
	a, b := newNode(t, "alice", servers, Config{}), newNode(t, "bob", servers, Config{})
	if err := a.st.PutFriend(store.Friend{Key: b.key.Public(), Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	// bob's reachability key lets alice read bob's record: she knows where he is, and
	// still must not send him anything before he answers.
	bk, _ := b.st.ReachKey()
	if err := a.st.SetFriendReachKey(b.key.Public(), bk); err != nil {
		t.Fatal(err)
	}
	before := len(b.tr.Peers())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := a.agent.Dial(ctx, Target{Key: b.key.Public(), Name: "bob"})
	if err == nil {
		t.Fatal("a dial to a peer that has not added us succeeded")
	}
	if len(b.tr.Peers()) != before {
		t.Fatal("the caller reached a peer that never answered")
	}
	if n := b.drops.count(a.agent.cfg.Mux.LocalAddr().String()); n > 0 {
		t.Fatalf("the caller sent %d punch packets to a peer that never answered its offer", n)
	}
	if errors.Is(err, ErrPrivate) {
		t.Fatalf("a friend's dial failed as a stranger's: %v", err)
	}
	if err := b.st.PutFriend(store.Friend{Key: a.key.Public(), Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, a, b)
	if c.Relayed() {
		select {
		case <-c.Better():
		case <-time.After(5 * time.Second):
			t.Error("friends on loopback reached each other through the relay, and no direct path followed")
		}
	}
}

// TestStrangerDial: a stranger reaches a peer only when it publishes its addresses.
func TestStrangerDial(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNAllowPrivate: true})
	servers := []string{rv.GRPC}
	private := newNode(t, "private", servers, Config{})
	s, err := StartStranger(mustKey(t), servers, "127.0.0.1:0", testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitUntil(t, "the stranger registered", func() bool { return s.agent.Status().GetRegistered() })
	if _, err := s.Dial(ctx, private.key.Public(), ""); !errors.Is(err, ErrPrivate) {
		t.Fatalf("a stranger dialling a private peer: %v, want ErrPrivate", err)
	}
}
