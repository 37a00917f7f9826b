package daemon_test

import (
	"context"
	"crypto/rand"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/transport"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// outsider is a key with its own transport on a loopback socket: a stranger to everyone.
func outsider(t *testing.T) *transport.Transport {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := transport.New(transport.Config{Key: k, PacketConn: pc, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close(); pc.Close() })
	return tr
}

// openWatches opens n Watch streams from c to the node and reports how many were
// refused with errTooManyCalls within 3 s (the others stay open, or answer).
func openWatches(t *testing.T, ctx context.Context, c syncv1.SyncServiceClient, n int) (refused int) {
	t.Helper()
	errs := make(chan error, n)
	for range n {
		go func() { // a stream past HTTP/2's bound waits in Watch: never in the test's way
			st, err := c.Watch(ctx, &syncv1.WatchRequest{})
			if err == nil {
				_, err = st.Recv()
			}
			errs <- err
		}()
	}
	timeout := time.After(3 * time.Second)
	for {
		select {
		case err := <-errs:
			if err == nil {
				continue // a first answer: the stream was admitted
			}
			if status.Code(err) != codes.Unavailable || !strings.Contains(status.Convert(err).Message(), "too many concurrent calls") {
				t.Fatalf("a Watch ended with %v, want Unavailable, too many concurrent calls, or to stay open", err)
			}
			refused++
		case <-timeout:
			return refused
		}
	}
}

// inboundFrom counts the node's live inbound connections from key.
func inboundFrom(p *peer, id identity.ID) int {
	n := 0
	for _, c := range p.node.Peers() {
		if c.ID == id && c.Inbound {
			n++
		}
	}
	return n
}

// Issue 13 item 12: a stranger's calls and connections are bounded, tighter than a
// friend's, and a friend still syncs while a stranger pushes against the bounds.
func TestStrangersAreBounded(t *testing.T) {
	author, friend := newPeer(t, "author"), newPeer(t, "friend")
	befriend(t, author, friend)
	befriend(t, friend, author)
	id := author.publish(t, "for friends", feed.Audience{Friends: true})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	s := outsider(t)
	cc, err := s.Client(author.node.Addr(), author.pub())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	if refused := openWatches(t, ctx, syncv1.NewSyncServiceClient(cc), 200); refused != 200-4 {
		t.Errorf("a stranger opened %d Watch streams over one connection, want 4", 200-refused)
	}

	// Connections: one stranger key at most 2; strangers from one address at most 8.
	for range 5 {
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		if c, err := s.Dial(dctx, author.node.Addr(), author.pub()); err == nil {
			c.Write([]byte("x")) // a QUIC stream reaches the other end with its first byte
			t.Cleanup(func() { c.Close() })
		}
		dcancel()
	}
	for range 12 {
		o := outsider(t)
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		if c, err := o.Dial(dctx, author.node.Addr(), author.pub()); err == nil {
			c.Write([]byte("x"))
		}
		dcancel()
	}
	time.Sleep(time.Second) // the node accepts (or refuses) each connection asynchronously
	if n := inboundFrom(author, s.ID()); n > 2 {
		t.Errorf("one stranger key holds %d connections, want at most 2", n)
	}
	strangers := 0
	for _, c := range author.node.Peers() {
		if c.Inbound && c.ID != friend.pub().ID() {
			strangers++
		}
	}
	if strangers > 8 {
		t.Errorf("strangers from one address hold %d connections, want at most 8", strangers)
	}

	// The friend is not held back: it syncs, and may watch more than a stranger may.
	if res := friend.sync(t, author); res.Stored == 0 {
		t.Errorf("the friend pulled nothing while strangers pressed: %+v", res)
	}
	if ok, _, _ := friend.holds(t, author, id); !ok {
		t.Error("the friend lacks the post")
	}
	if refused := openWatches(t, ctx, friend.client(t, author), 10); refused != 0 {
		t.Errorf("a friend's 10 Watch streams: %d refused, want none", refused)
	}
}
