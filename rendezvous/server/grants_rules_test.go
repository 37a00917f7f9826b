package server

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/rendezvous/store"
	"github.com/kithnet/kith/rendezvous/turn"
	"github.com/kithnet/kith/shared/identity"
)

// TestListenAddrsTrack: a Listen source is known while one of its streams lives, and
// forgotten with the last one, so a grant never names where the target no longer is.
func TestListenAddrsTrack(t *testing.T) {
	var l listenAddrs
	fp := identity.Fingerprint("target")
	want := netip.MustParseAddr("1.2.3.4")

	if done := l.track(fp, "not an address"); len(l.of(fp)) != 0 {
		t.Fatalf("unparsable source tracked: %v", l.of(fp))
	} else {
		done()
	}
	first := l.track(fp, "[::ffff:1.2.3.4]:5000")
	second := l.track(fp, "1.2.3.4:6000")
	if got := l.of(fp); len(got) != 1 || got[0] != want {
		t.Fatalf("of = %v, want [%v]", got, want)
	}
	first()
	if got := l.of(fp); len(got) != 1 || got[0] != want {
		t.Fatalf("after one of two streams ended: of = %v, want [%v]", got, want)
	}
	second()
	if got := l.of(fp); len(got) != 0 {
		t.Fatalf("after both streams ended: of = %v, want none", got)
	}
	if len(l.by) != 0 {
		t.Fatalf("table keeps %d entries after every stream ended", len(l.by))
	}
}

// withPeer is a call's context from addr, as gRPC gives a server.
func withPeer(addr string) context.Context {
	ap := netip.MustParseAddrPort(addr)
	return peer.NewContext(context.Background(), &peer.Peer{Addr: net.TCPAddrFromAddrPort(ap)})
}

// TestGrantRelay: a Connect grants its caller's address an allocation and relaying
// towards the target's Listen source and its valid public candidates, nothing more.
func TestGrantRelay(t *testing.T) {
	caller := netip.MustParseAddr("10.0.0.1")
	listenSrc := netip.MustParseAddr("10.0.0.2")
	cand := netip.MustParseAddr("10.0.0.3")
	stranger := netip.MustParseAddr("10.0.0.9")
	target := identity.Fingerprint("target")

	reg := &rendezvousv1.Registration{PublicCandidates: []*rendezvousv1.Candidate{
		{Address: "garbage"}, {Address: "10.0.0.3:3000"},
	}}
	payload, err := proto.Marshal(reg)
	if err != nil {
		t.Fatal(err)
	}
	rec := &signedv1.Envelope{Payload: payload}
	t.Run("granted", func(t *testing.T) {
		g := turn.NewGrants(time.Minute, nil)
		s := &Server{cfg: Config{TURNGrants: g}}
		t.Cleanup(s.listens.track(target, "10.0.0.2:2000"))
		s.grantRelay(withPeer("10.0.0.1:1000"), target, rec)
		if !g.MayAllocate(caller) {
			t.Fatal("caller may not allocate after its Connect")
		}
		for _, p := range []netip.Addr{listenSrc, cand} {
			if !g.MayRelay(caller, p) {
				t.Errorf("caller may not relay towards %v", p)
			}
		}
		if g.MayRelay(caller, stranger) {
			t.Errorf("caller may relay towards %v, which the target never named", stranger)
		}
		if g.MayAllocate(listenSrc) {
			t.Error("the target's address got a grant it never asked for")
		}
	})
	t.Run("no caller address", func(t *testing.T) {
		g := turn.NewGrants(time.Minute, nil)
		s := &Server{cfg: Config{TURNGrants: g}}
		s.grantRelay(context.Background(), target, rec)
		if g.MayAllocate(netip.IPv4Unspecified()) || g.MayAllocate(netip.Addr{}) {
			t.Fatal("a call without a source address granted something")
		}
	})
	t.Run("no TURN", func(t *testing.T) {
		s := &Server{}
		s.grantRelay(withPeer("10.0.0.1:1000"), target, rec) // must not panic
	})
}

// TestGrantListener: an offer handed to a Listen stream grants the listener's address
// an allocation and relaying towards the offer's sender, and nothing else; an offer
// without a sender address, a stream without a source or a server without TURN grants
// nothing.
func TestGrantListener(t *testing.T) {
	listener := netip.MustParseAddr("10.0.0.2")
	sender := netip.MustParseAddr("10.0.0.1")
	other := netip.MustParseAddr("10.0.0.9")
	t.Run("granted", func(t *testing.T) {
		g := turn.NewGrants(time.Minute, nil)
		s := &Server{cfg: Config{TURNGrants: g}}
		s.grantListener(withPeer("10.0.0.2:2000"), "10.0.0.1:1000")
		if !g.MayAllocate(listener) || !g.MayRelay(listener, sender) {
			t.Fatal("the listener may not allocate and relay towards the offer's sender")
		}
		if g.MayRelay(listener, other) || g.MayAllocate(sender) {
			t.Error("the grant names more than the listener towards the sender")
		}
	})
	for _, tc := range []struct{ name, stream, sender string }{
		{"no sender address", "10.0.0.2:2000", ""},
		{"no stream address", "", "10.0.0.1:1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := turn.NewGrants(time.Minute, nil)
			s := &Server{cfg: Config{TURNGrants: g}}
			ctx := context.Background()
			if tc.stream != "" {
				ctx = withPeer(tc.stream)
			}
			s.grantListener(ctx, tc.sender)
			if g.MayAllocate(listener) || g.MayAllocate(netip.Addr{}) {
				t.Fatal("granted without both addresses")
			}
		})
	}
	t.Run("no TURN", func(t *testing.T) {
		(&Server{}).grantListener(withPeer("10.0.0.2:2000"), "10.0.0.1:1000") // must not panic
	})
}

// TestNewestOf: the record a plain client reads is the newest; on a tie the first.
func TestNewestOf(t *testing.T) {
	env := func(n byte) *signedv1.Envelope { return &signedv1.Envelope{Payload: []byte{n}} }
	rec := func(ms int64) store.DeviceRecord {
		return store.DeviceRecord{Record: store.Record{TimestampMs: ms}}
	}
	tests := []struct {
		name string
		ms   []int64
		want byte
	}{
		{"newest in the middle", []int64{5, 9, 7}, 1},
		{"newest first", []int64{9, 5, 7}, 0},
		{"newest last", []int64{5, 7, 9}, 2},
		{"tie keeps the first", []int64{5, 5}, 0},
		{"single", []int64{3}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ds []store.DeviceRecord
			var envs []*signedv1.Envelope
			for i, ms := range tt.ms {
				ds = append(ds, rec(ms))
				envs = append(envs, env(byte(i)))
			}
			got := newestOf(ds, envs)
			if got == nil || got.Payload[0] != tt.want {
				t.Fatalf("newestOf(%v) = %v, want record %d", tt.ms, got, tt.want)
			}
		})
	}
	if got := newestOf(nil, nil); got != nil {
		t.Fatalf("newestOf(none) = %v, want nil", got)
	}
}

// TestPrincipalString: an identity is named by its fingerprint alone, a device by both.
func TestPrincipalString(t *testing.T) {
	if got := (principal{fp: "fp"}).String(); got != "fp" {
		t.Errorf("identity principal = %q, want %q", got, "fp")
	}
	if got := (principal{fp: "fp", device: []byte{1, 2}}).String(); got != "fp/0102" {
		t.Errorf("device principal = %q, want %q", got, "fp/0102")
	}
}

// TestIPBudgetSweep: windows that ended are dropped on every 4096th call, not on each
// call (a sweep walks the whole table; doing it per call would cost every request that).
func TestIPBudgetSweep(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { return now }
	b := newIPBudget(store.NewMemory(clock), 1<<20, time.Minute, clock)
	ctx := context.Background()
	if err := b.allow(ctx, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	for i := 2; i < 4096; i++ {
		if err := b.allow(ctx, "192.0.2.2"); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if _, ok := b.ips["192.0.2.1"]; !ok {
				t.Fatal("table swept on the second call, not the 4096th")
			}
		}
	}
	if _, ok := b.ips["192.0.2.1"]; !ok {
		t.Fatal("table swept before the 4096th call")
	}
	if err := b.allow(ctx, "192.0.2.2"); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.ips["192.0.2.1"]; ok {
		t.Fatal("ended window kept after the 4096th call")
	}
	if _, ok := b.ips["192.0.2.2"]; !ok {
		t.Fatal("live window dropped by the sweep")
	}
}
