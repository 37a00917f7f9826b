package reach

import (
	"context"
	"crypto/rand"
	"errors"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/transport"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	"github.com/kithnet/kith/shared/identity"
)

// storeBook is a real store as the Book: the public-post check scans own posts.
type storeBook struct{ st *store.Store }

func (b storeBook) FriendRequest(identity.PublicKey, *signedv1.Envelope) {}

func (b storeBook) IsFriend(k identity.PublicKey) bool {
	_, err := b.st.Friend(k)
	return err == nil
}
func (b storeBook) ReachKey() ([]byte, error) { return b.st.ReachKey() }
func (b storeBook) FriendReachKey(k identity.PublicKey) ([]byte, error) {
	return b.st.FriendReachKey(k)
}
func (b storeBook) Changed() <-chan struct{} { return b.st.Changed() }
func (b storeBook) SetLastPath(k identity.PublicKey, a netip.AddrPort) error {
	return b.st.SetLastPath(k, a)
}
func (b storeBook) LastPath(k identity.PublicKey) (netip.AddrPort, bool) { return b.st.LastPath(k) }
func (b storeBook) HasPublic() bool {
	self, err := b.st.Self()
	if err != nil {
		return false
	}
	found := false
	b.st.Posts(&self, func(p store.Stored) bool {
		found = p.Payload.GetVisibility() == postv1.Visibility_VISIBILITY_PUBLIC && !p.Payload.GetDeleted()
		return !found
	})
	return found
}

// newAgent makes an agent in direct mode on a loopback socket with book and publish.
func newAgent(t *testing.T, book Book, publish bool) *Agent {
	t.Helper()
	k, _ := identity.Generate(rand.Reader)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	tr, err := transport.New(transport.Config{Key: k, PacketConn: pc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	a, err := New(Config{Key: k, Transport: tr, Book: book, PublishAddresses: publish, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A node answers strangers' offers only when it publishes its addresses
// (--publish-addresses) and has a public post to show, and at most
// strangerOffersPerMinute a minute.
func TestAnswerStranger(t *testing.T) {
	st, err := store.Open(store.Config{Home: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k, _ := identity.Generate(rand.Reader)
	if err := st.Init(k, "me"); err != nil {
		t.Fatal(err)
	}
	private := newAgent(t, storeBook{st}, false)
	tr := newAgent(t, storeBook{st}, true)

	if _, err := st.Publish(store.NewPost{Text: "for friends"}); err != nil {
		t.Fatal(err)
	}
	if tr.answerStranger() {
		t.Fatal("answered a stranger with nothing public")
	}
	if _, err := st.Publish(store.NewPost{Text: "for anyone", Audience: feed.Audience{Public: true}}); err != nil {
		t.Fatal(err)
	}
	if private.answerStranger() || private.publishes() {
		t.Fatal("a node without --publish-addresses answered a stranger, or published its addresses")
	}
	if !tr.publishes() {
		t.Fatal("a node with --publish-addresses and a public post does not publish its addresses")
	}
	for i := range strangerOffersPerMinute {
		if !tr.answerStranger() {
			t.Fatalf("offer %d refused within the minute's budget of %d", i+1, strangerOffersPerMinute)
		}
	}
	if tr.answerStranger() {
		t.Fatalf("offer %d answered; the budget is %d a minute", strangerOffersPerMinute+1, strangerOffersPerMinute)
	}
}

// Direct mode (no rendezvous): a peer is dialled at the address it was added with,
// and without one the error says how to give one.
func TestDirectMode(t *testing.T) {
	a := newAgent(t, nil, false)
	k := mustKey(t).Public()
	if s := a.Status(); s.GetMode() != "none" || a.Rendezvous() {
		t.Fatalf("direct mode status %v, rendezvous %v", s, a.Rendezvous())
	}
	if _, err := a.Dial(context.Background(), Target{Key: k, Name: "Bob"}); !errors.Is(err, ErrNoAddress) ||
		!strings.Contains(err.Error(), "Bob (") {
		t.Fatalf("dial without an address: %v, want ErrNoAddress naming Bob", err)
	}
	if _, err := a.Dial(context.Background(), Target{Key: k, Addr: "not an address"}); err == nil {
		t.Fatal("dial at a malformed address succeeded")
	}
	c, err := a.Dial(context.Background(), Target{Key: k, Addr: "127.0.0.1:9"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Relayed() {
		t.Error("a direct-mode connection says it is relayed")
	}
	select {
	case <-c.Better():
		t.Error("Better fired on a direct connection")
	default:
	}
}
