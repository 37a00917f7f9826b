package daemon

import (
	"crypto/rand"
	"log/slog"
	"net"
	"testing"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/shared/identity"
)

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
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	n, err := Start(Config{Store: st, PacketConn: pc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	private := &traversal{node: n}
	tr := &traversal{node: n, cfg: TraversalConfig{PublishAddresses: true}}

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
