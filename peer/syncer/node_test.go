package syncer

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/transport"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// node is one peer in this test process: a store, a kith transport on a loopback UDP
// socket, and a gRPC server answering kith.sync.v1 with the Server (or, for a peer that
// lies, a service wrapping it).
type node struct {
	name string
	key  *identity.Key
	st   *store.Store
	srv  *Server
	tr   *transport.Transport
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newKey(t testing.TB) *identity.Key {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func openStore(t testing.TB, key *identity.Key, name string) *store.Store {
	t.Helper()
	st, err := store.Open(store.Config{Home: t.TempDir(), Logger: quiet(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Init(key, name); err != nil {
		t.Fatal(err)
	}
	return st
}

// newNode starts a node; wrap, when set, turns its Server into the service it serves.
func newNode(t testing.TB, name string, wrap func(*Server) syncv1.SyncServiceServer) *node {
	t.Helper()
	key := newKey(t)
	return startNode(t, name, key, openStore(t, key, name), wrap)
}

func startNode(t testing.TB, name string, key *identity.Key, st *store.Store, wrap func(*Server) syncv1.SyncServiceServer) *node {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := transport.New(transport.Config{Key: key, PacketConn: pc, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tr.Listen()
	if err != nil {
		t.Fatal(err)
	}
	n := &node{name: name, key: key, st: st, srv: NewServer(st, quiet()), tr: tr}
	var svc syncv1.SyncServiceServer = n.srv
	if wrap != nil {
		svc = wrap(n.srv)
	}
	gs := grpc.NewServer(grpc.Creds(transport.Credentials()))
	syncv1.RegisterSyncServiceServer(gs, svc)
	go gs.Serve(ln)
	t.Cleanup(func() { gs.Stop(); tr.Close(); pc.Close() })
	return n
}

func (n *node) pub() identity.PublicKey { return n.key.Public() }

// client is a sync client from n to other, over the kith transport.
func (n *node) client(t testing.TB, other *node) syncv1.SyncServiceClient {
	t.Helper()
	cc, err := n.tr.Client(other.tr.Addr(), other.pub())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return syncv1.NewSyncServiceClient(cc)
}

// befriend makes b a friend of a, in groups.
func befriend(t testing.TB, a, b *node, groups ...string) {
	t.Helper()
	if err := a.st.PutFriend(store.Friend{Key: b.pub(), Name: b.name, Groups: groups}); err != nil {
		t.Fatal(err)
	}
}

func (n *node) publish(t testing.TB, text string, a feed.Audience, atts ...*postv1.Attachment) post.ID {
	t.Helper()
	id, err := n.st.Publish(store.NewPost{Text: text, Audience: a, Attachments: atts})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (n *node) blob(t testing.TB, data []byte) *postv1.Attachment {
	t.Helper()
	a, err := n.st.PutBlob(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	a.MediaType = "application/octet-stream"
	return a
}

// holds returns the version n holds of author's post id, 0 when it holds none. Any
// error but ErrNotFound fails the test.
func (n *node) holds(t testing.TB, author *node, id post.ID) uint64 {
	t.Helper()
	st, err := n.st.Post(author.pub(), id)
	if errors.Is(err, store.ErrNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.Payload.GetVersion()
}

func (n *node) count(t testing.TB, author *node) int {
	t.Helper()
	c, err := n.st.CountPosts(author.pub())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (n *node) cursor(t testing.TB, friend *node) uint64 {
	t.Helper()
	c, err := n.st.Cursor(friend.pub())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// lastSeq is the newest sequence number of viewer's view of n's changes.
func (n *node) lastSeq(t testing.TB, viewer *node) uint64 {
	t.Helper()
	pg, err := n.st.Changes(viewer.pub(), 0, math.MaxInt32)
	if err != nil {
		t.Fatal(err)
	}
	return pg.Last
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// randomBytes returns n random bytes (so no two blobs of a test share a hash).
func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}
