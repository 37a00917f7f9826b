package daemon_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/syncer"
	"github.com/kithnet/kith/peer/transport"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// lyingServer is a friend's peer that serves whatever the test says, over the real
// transport with the friend's real key.
type lyingServer struct {
	syncv1.UnimplementedSyncServiceServer
	ids   [][]byte
	posts []*signedv1.Envelope
	blob  []byte
}

func (s *lyingServer) Changes(context.Context, *syncv1.ChangesRequest) (*syncv1.ChangesResponse, error) {
	resp := &syncv1.ChangesResponse{LastSeq: uint64(len(s.ids))}
	for i, id := range s.ids {
		resp.Changes = append(resp.Changes, &syncv1.Change{Seq: uint64(i + 1), Kind: syncv1.ChangeKind_CHANGE_KIND_POST, PostId: id, Version: 1})
	}
	return resp, nil
}

func (s *lyingServer) GetPosts(context.Context, *syncv1.GetPostsRequest) (*syncv1.GetPostsResponse, error) {
	return &syncv1.GetPostsResponse{Posts: s.posts}, nil
}

func (s *lyingServer) GetBlob(req *syncv1.GetBlobRequest, stream syncv1.SyncService_GetBlobServer) error {
	return stream.Send(&syncv1.GetBlobResponse{Chunk: s.blob, Size: uint64(len(s.blob))})
}

// serveAs serves srv over the real transport with key, as a friend's peer would.
func serveAs(t *testing.T, key *identity.Key, srv syncv1.SyncServiceServer) net.Addr {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := transport.New(transport.Config{Key: key, PacketConn: pc, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tr.Listen()
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.Creds(transport.Credentials()))
	syncv1.RegisterSyncServiceServer(gs, srv)
	done := make(chan struct{})
	go func() { defer close(done); gs.Serve(ln) }()
	t.Cleanup(func() { gs.Stop(); tr.Close(); <-done; pc.Close() })
	return pc.LocalAddr()
}

func mustKey(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func seal(t *testing.T, k *identity.Key, p *postv1.Payload) *signedv1.Envelope {
	t.Helper()
	env, err := signed.Seal(k, identity.ContextPost, p)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func payload(author identity.PublicKey, text string) *postv1.Payload {
	id, _ := post.NewID(nil)
	return &postv1.Payload{Id: id[:], Author: author.Bytes(), Version: 1, CreatedUnixMs: 1, UpdatedUnixMs: 1,
		Text: text, Visibility: postv1.Visibility_VISIBILITY_PRIVATE}
}

func TestTamperedPostsRejected(t *testing.T) {
	friend, mallory, other := mustKey(t), mustKey(t), mustKey(t)
	blob := []byte("the real photo")
	sum := sha256.Sum256(blob)
	cases := []struct {
		name string
		make func(*lyingServer)
	}{
		{"flipped signature bit", func(s *lyingServer) {
			env := seal(t, friend, payload(friend.Public(), "hello"))
			env.Signature[5] ^= 1
			s.posts = append(s.posts, env)
		}},
		{"flipped payload bit", func(s *lyingServer) {
			env := seal(t, friend, payload(friend.Public(), "hello"))
			env.Payload[len(env.Payload)-1] ^= 1
			s.posts = append(s.posts, env)
		}},
		{"forged author signed by another key", func(s *lyingServer) {
			s.posts = append(s.posts, seal(t, mallory, payload(friend.Public(), "I am friend")))
		}},
		{"signer field claims the friend, signature by another", func(s *lyingServer) {
			env := seal(t, mallory, payload(friend.Public(), "I am friend"))
			env.Signer = friend.Public().Bytes()
			s.posts = append(s.posts, env)
		}},
		{"friend serves someone else's post", func(s *lyingServer) {
			s.posts = append(s.posts, seal(t, other, payload(other.Public(), "other's words")))
		}},
		{"someone else's post re-signed by the friend", func(s *lyingServer) {
			s.posts = append(s.posts, seal(t, friend, payload(other.Public(), "other's words")))
		}},
		{"post not asked for", func(s *lyingServer) {
			s.ids = [][]byte{make([]byte, 16)}
		}},
		{"one good post beside one bad", func(s *lyingServer) {
			s.posts = append(s.posts, seal(t, mallory, payload(friend.Public(), "bad")))
		}},
		{"blob that does not match its hash", func(s *lyingServer) {
			p := payload(friend.Public(), "photo")
			p.Attachments = []*postv1.Attachment{{Sha256: sum[:], Size: uint64(len(blob)), MediaType: "image/jpeg"}}
			s.posts = append(s.posts, seal(t, friend, p))
			s.blob = []byte("a fake photo!!")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			good := seal(t, friend, payload(friend.Public(), "genuine"))
			srv := &lyingServer{posts: []*signedv1.Envelope{good}}
			tc.make(srv)
			// The feed names every served post, unless the case named its own ids.
			if srv.ids == nil {
				for _, env := range srv.posts {
					var p postv1.Payload
					if err := proto.Unmarshal(env.Payload, &p); err == nil {
						srv.ids = append(srv.ids, p.Id)
					}
				}
			}
			addr := serveAs(t, friend, srv)
			me := newPeer(t, "victim")
			if err := me.st.PutFriend(store.Friend{Key: friend.Public(), Addr: addr.String()}); err != nil {
				t.Fatal(err)
			}
			f, _ := me.st.Friend(friend.Public())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := me.node.Sync(ctx, f)
			if !errors.Is(err, syncer.ErrTampered) {
				t.Fatalf("pull from a lying friend: err %v, want ErrTampered", err)
			}
			for _, k := range []*identity.Key{friend, mallory, other} {
				if n, _ := me.st.CountPosts(k.Public()); n != 0 {
					t.Errorf("stored %d posts by %s after a rejected pull; want none", n, k.ID()[:8])
				}
			}
			if c, _ := me.st.Cursor(friend.Public()); c != 0 {
				t.Errorf("cursor advanced to %d after a rejected pull", c)
			}
			if ok, _ := me.st.HasBlob(sum[:]); ok {
				t.Error("stored a blob that does not match its hash")
			}
		})
	}
}

// The transport refuses a peer whose key is not the one dialled.
func TestTransportRefusesWrongKey(t *testing.T) {
	real, impostor := newPeer(t, "real"), newPeer(t, "impostor")
	me := newPeer(t, "me")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := me.node.Transport().Dial(ctx, impostor.node.Addr(), real.pub())
	if err == nil || !strings.Contains(err.Error(), transport.ErrWrongPeer.Error()) {
		t.Fatalf("dial an impostor: err %v, want ErrWrongPeer", err)
	}
	c, err := me.node.Transport().Dial(ctx, real.node.Addr(), real.pub())
	if err != nil {
		t.Fatalf("dial the real peer: %v", err)
	}
	if c.PeerKey() != real.pub() {
		t.Fatal("PeerKey is not the dialled key")
	}
	peers := me.node.Transport().Peers()
	if len(peers) != 1 || peers[0].ID != real.key.ID() || peers[0].Path != transport.Direct || peers[0].Remote != real.node.Addr().String() {
		t.Errorf("Peers() = %+v, want one direct connection to %s", peers, real.node.Addr())
	}
	c.Close()
}

// stuckServer says there is always more, without moving on.
type stuckServer struct {
	syncv1.UnimplementedSyncServiceServer
}

func (stuckServer) Changes(_ context.Context, req *syncv1.ChangesRequest) (*syncv1.ChangesResponse, error) {
	return &syncv1.ChangesResponse{LastSeq: req.Since, More: true}, nil
}

func TestPullerRefusesAFeedThatNeverMoves(t *testing.T) {
	friend := mustKey(t)
	addr := serveAs(t, friend, stuckServer{})
	me := newPeer(t, "me")
	if err := me.st.PutFriend(store.Friend{Key: friend.Public(), Addr: addr.String()}); err != nil {
		t.Fatal(err)
	}
	f, _ := me.st.Friend(friend.Public())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := me.node.Sync(ctx, f); !errors.Is(err, syncer.ErrProtocol) {
		t.Fatalf("pull from a feed that never moves: %v, want ErrProtocol", err)
	}
}
