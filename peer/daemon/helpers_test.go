package daemon_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/daemon"
	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/syncer"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// peer is one kith node in this test process, on a real loopback UDP socket.
type peer struct {
	name string
	key  *identity.Key
	st   *store.Store
	node *daemon.Node
}

func quietLogger() *slog.Logger {
	if os.Getenv("KITH_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newPeer(t *testing.T, name string) *peer {
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
	return &peer{name: name, key: key, st: st, node: startNode(t, st)}
}

// startNode starts a node for st on a loopback UDP socket.
func startNode(t *testing.T, st *store.Store) *daemon.Node {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	node, err := daemon.Start(daemon.Config{Store: st, PacketConn: pc, Logger: quietLogger(), Retry: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	return node
}

// befriend makes b a friend of a (one way: a's store knows b, with b's address).
func befriend(t *testing.T, a, b *peer, groups ...string) {
	t.Helper()
	err := a.st.PutFriend(store.Friend{Key: b.key.Public(), Name: b.name, Addr: b.node.Addr().String(), Groups: groups})
	if err != nil {
		t.Fatal(err)
	}
}

func (p *peer) pub() identity.PublicKey { return p.key.Public() }

// sync makes p pull from friend once.
func (p *peer) sync(t *testing.T, friend *peer) syncer.Result {
	t.Helper()
	f, err := p.st.Friend(friend.pub())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := p.node.Sync(ctx, f)
	if err != nil {
		t.Fatalf("%s syncing from %s: %v", p.name, friend.name, err)
	}
	return res
}

// client returns a raw sync client from p to friend.
func (p *peer) client(t *testing.T, friend *peer) syncv1.SyncServiceClient {
	t.Helper()
	cc, err := p.node.Transport().Client(friend.node.Addr(), friend.pub())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return syncv1.NewSyncServiceClient(cc)
}

func (p *peer) publish(t *testing.T, text string, a feed.Audience) post.ID {
	t.Helper()
	id, err := p.st.Publish(store.NewPost{Text: text, Audience: a})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// holds returns what p holds of author's post id: found, version, deleted. Only
// store.ErrNotFound means "not held"; any other store error fails the test, or a check
// that p does not hold a post would pass on a broken store.
func (p *peer) holds(t *testing.T, author *peer, id post.ID) (bool, uint64, bool) {
	t.Helper()
	st, err := p.st.Post(author.pub(), id)
	if errors.Is(err, store.ErrNotFound) {
		return false, 0, false
	}
	if err != nil {
		t.Fatalf("%s: reading %s's post %s: %v", p.name, author.name, id, err)
	}
	return true, st.Payload.GetVersion(), st.Payload.GetDeleted()
}

func (p *peer) count(t *testing.T, author *peer) int {
	t.Helper()
	n, err := p.st.CountPosts(author.pub())
	if err != nil {
		t.Fatal(err)
	}
	return n
}
