package reach

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/discovery"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/shared/device"
)

// TestDialBack: a friend reached directly before is reached again by its dial-back:
// alice's opener goes to bob's last direct address, her CONNECT says so, and bob, for
// whom that is still his address, dials QUIC back as he answers; alice holds that
// connection (inbound on her socket) as her client. Alice's own ways are off (no punch,
// no QUIC at the answered candidates, no relay on this rendezvous), so the dial-back is
// the only way that can work. Where her last address of bob's is stale, bob does not
// dial back and the dial fails.
func TestDialBack(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{STUNAlt: "127.0.0.1:0"}) // the mapping measured: endpoint-independent
	servers := []string{rv.GRPC}
	off := Config{PunchTimeout: -1}
	a, b := newNode(t, "alice", servers, off), newNode(t, "bob", servers, off)
	befriend(t, a, b)
	for _, n := range []*node{a, b} {
		waitUntil(t, n.name+"'s mapping measured", func() bool {
			return n.agent.mapping() == rendezvousv1.Mapping_MAPPING_ENDPOINT_INDEPENDENT
		})
	}
	bobAt := netip.MustParseAddrPort(b.agent.Status().GetReflexiveAddress())

	// A stale last address: bob does not dial back, and alice has no other way.
	if err := a.st.SetLastPath(b.key.Public(), netip.AddrPortFrom(bobAt.Addr(), bobAt.Port()+1)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if c, err := a.agent.Dial(ctx, Target{Key: b.key.Public(), Name: "bob"}); err == nil {
		c.Close()
		t.Fatal("alice reached bob with every way of hers off and a stale address of his")
	}
	for _, p := range a.tr.Peers() {
		if p.ID == b.key.ID() {
			t.Fatalf("bob dialled back towards an address alice never opened: %+v", p)
		}
	}

	if err := a.st.SetLastPath(b.key.Public(), bobAt); err != nil {
		t.Fatal(err)
	}
	if n := b.served.count(a.key.ID()); n != 0 {
		t.Fatalf("bob served %d connections of alice's before she dialled", n)
	}
	c := dial(t, a, b)
	if c.Relayed() {
		t.Fatal("the dial-back came through a relay")
	}
	inbound := false
	for _, p := range a.tr.Peers() {
		inbound = inbound || (p.ID == b.key.ID() && p.Inbound && p.Path == "direct")
	}
	if !inbound {
		t.Fatalf("alice's connection to bob is not the one bob dialled back: %+v", a.tr.Peers())
	}
	// Bob serves the connection he dialled back: his side of it is where alice's
	// calls go.
	waitUntil(t, "bob serves his dial-back", func() bool { return b.served.count(a.key.ID()) == 1 })
	if p, ok := a.agent.bestPath(b.key.Public()); !ok || p.kind != Direct || p.addr.String() != bobAt.String() {
		t.Fatalf("best path after the dial-back: %v, %v; want direct at %s", p, ok, bobAt)
	}
}

// TestDialBackNowhere: a friend's CONNECT that names an opened address of ours but no
// candidate of its own gets no dial-back, and does not bring the node down.
func TestDialBackNowhere(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{})
	a, b := newNode(t, "alice", []string{rv.GRPC}, Config{}), newNode(t, "bob", []string{rv.GRPC}, Config{})
	befriend(t, a, b)
	o := discovery.Offer{From: a.key.Public(), Person: a.key.Public(), Offer: &rendezvousv1.Offer{
		Kind: rendezvousv1.OfferKind_OFFER_KIND_CONNECT, OpenedTowards: b.agent.Status().GetReflexiveAddress()}}
	b.agent.dialBack(context.Background(), o)
	if n := a.served.count(b.key.ID()); n != 0 {
		t.Fatalf("alice got %d connections from bob", n)
	}
}

// TestOpenTowards: a find opens towards a friend's last direct address, and says so,
// only for a friend's identity whose last address it keeps, one find per friend at a
// time, and never when it speaks as a device (a friend dials no device back).
func TestOpenTowards(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{STUNAlt: "127.0.0.1:0"})
	servers := []string{rv.GRPC}
	a, b, c := newNode(t, "alice", servers, Config{}), newNode(t, "bob", servers, Config{}), newNode(t, "carol", servers, Config{})
	devKey := mustKey(t)
	cert, err := device.Issue(a.key, devKey.Public(), []byte("laptop01"), time.Now().Add(-time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	laptop := newNode(t, "laptop", servers, Config{Key: devKey, DeviceID: []byte("laptop01"), DeviceCertificate: cert})
	befriend(t, a, b)
	befriend(t, a, c)
	befriend(t, laptop, b)
	for _, n := range []*node{a, laptop} {
		waitUntil(t, n.name+"'s mapping measured", func() bool {
			return n.agent.mapping() == rendezvousv1.Mapping_MAPPING_ENDPOINT_INDEPENDENT
		})
	}
	bobAt := netip.MustParseAddrPort(b.agent.Status().GetReflexiveAddress())
	for _, n := range []*node{a, laptop} {
		if err := n.st.SetLastPath(b.key.Public(), bobAt); err != nil {
			t.Fatal(err)
		}
	}
	secret := newNonce()
	opened, back, done := a.agent.openTowards(b.key.Public(), secret)
	if opened != bobAt || back == nil {
		t.Fatalf("towards bob: opened %v, waiting %v; want %v", opened, back != nil, bobAt)
	}
	if o, w, d := a.agent.openTowards(b.key.Public(), secret); o.IsValid() || w != nil {
		d()
		t.Fatal("a second find to bob also waits for his dial-back")
	}
	done()
	if o, w, d := a.agent.openTowards(b.key.Public(), secret); !o.IsValid() || w == nil {
		t.Fatal("after the first find ended, a new one does not wait for bob's dial-back")
	} else {
		d()
	}
	if o, w, _ := a.agent.openTowards(c.key.Public(), secret); o.IsValid() || w != nil {
		t.Fatal("alice opened towards carol, whose last address she does not keep")
	}
	if o, w, _ := laptop.agent.openTowards(b.key.Public(), secret); o.IsValid() || w != nil {
		t.Fatal("a device key opened towards bob and said so: he never dials a device back")
	}
}
