package syncer

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
)

// liar is a friend's server that answers through the real Server and then alters what
// it sends: a peer that lies, as an attacker's would.
type liar struct {
	*Server
	changes func(*syncv1.ChangesResponse)
	// posts alters the posts of every answer that carries them: GetPosts', and those a
	// Changes answer includes, unless noInline leaves those out (a server that does not
	// include them: the puller asks GetPosts).
	posts    func(*syncv1.GetPostsResponse)
	noInline bool
	getPosts atomic.Int32 // GetPosts calls answered
	chunks   func([]*syncv1.GetBlobResponse) []*syncv1.GetBlobResponse
	kit      func(*syncv1.GetRecoveryKitResponse)
}

func (l *liar) GetRecoveryKit(ctx context.Context, req *syncv1.GetRecoveryKitRequest) (*syncv1.GetRecoveryKitResponse, error) {
	resp, err := l.Server.GetRecoveryKit(ctx, req)
	if err == nil && l.kit != nil {
		l.kit(resp)
	}
	return resp, err
}

func (l *liar) Changes(ctx context.Context, req *syncv1.ChangesRequest) (*syncv1.ChangesResponse, error) {
	resp, err := l.Server.Changes(ctx, req)
	if err != nil {
		return resp, err
	}
	if l.noInline {
		resp.Posts = nil
	}
	if l.posts != nil && len(resp.Posts) > 0 {
		inline := &syncv1.GetPostsResponse{Posts: resp.Posts}
		l.posts(inline)
		resp.Posts = inline.Posts
	}
	if l.changes != nil {
		l.changes(resp)
	}
	return resp, err
}

func (l *liar) GetPosts(ctx context.Context, req *syncv1.GetPostsRequest) (*syncv1.GetPostsResponse, error) {
	l.getPosts.Add(1)
	resp, err := l.Server.GetPosts(ctx, req)
	if err == nil && l.posts != nil {
		l.posts(resp)
	}
	return resp, err
}

// chunkRecorder collects what the real GetBlob sends, for the liar to alter.
type chunkRecorder struct {
	syncv1.SyncService_GetBlobServer
	got []*syncv1.GetBlobResponse
}

func (r *chunkRecorder) Send(m *syncv1.GetBlobResponse) error {
	r.got = append(r.got, proto.Clone(m).(*syncv1.GetBlobResponse))
	return nil
}

func (l *liar) GetBlob(req *syncv1.GetBlobRequest, stream syncv1.SyncService_GetBlobServer) error {
	if l.chunks == nil {
		return l.Server.GetBlob(req, stream)
	}
	rec := &chunkRecorder{SyncService_GetBlobServer: stream}
	if err := l.Server.GetBlob(req, rec); err != nil {
		return err
	}
	for _, m := range l.chunks(rec.got) {
		if err := stream.Send(m); err != nil {
			return err
		}
	}
	return nil
}

// TestPullRefusesLies: whatever a friend's server alters (a signature, an extra or
// repeated post, another author's post, a blob's bytes, offsets or length, the feed's
// cursor or kinds), the pull fails with ErrTampered or ErrProtocol and stores nothing:
// no post, no blob, no cursor.
func TestPullRefusesLies(t *testing.T) {
	third := newNode(t, "third", nil)
	thirdEnv, err := third.st.Post(third.pub(), third.publish(t, "a third person's post", feed.Default()))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		lie  func(*liar, *node)
		want error
	}{
		{"flipped signature", func(l *liar, _ *node) {
			l.posts = func(r *syncv1.GetPostsResponse) { r.Posts[0].Signature[0] ^= 1 }
		}, ErrTampered},
		{"a post not asked for", func(l *liar, author *node) {
			extra := author.publish(t, "for the author alone", feed.Audience{Me: true})
			st, err := author.st.Post(author.pub(), extra)
			if err != nil {
				t.Fatal(err)
			}
			l.posts = func(r *syncv1.GetPostsResponse) { r.Posts = append(r.Posts, st.Envelope) }
		}, ErrTampered},
		{"one post twice", func(l *liar, _ *node) {
			l.posts = func(r *syncv1.GetPostsResponse) { r.Posts = append(r.Posts, r.Posts[0]) }
		}, ErrTampered},
		{"another author's post", func(l *liar, _ *node) {
			l.posts = func(r *syncv1.GetPostsResponse) { r.Posts[0] = thirdEnv.Envelope }
		}, ErrTampered},
		{"another author's post as the last", func(l *liar, _ *node) {
			l.posts = func(r *syncv1.GetPostsResponse) { r.Posts = append(r.Posts, thirdEnv.Envelope) }
		}, ErrTampered},
		{"a blob byte changed", func(l *liar, _ *node) {
			l.chunks = func(ms []*syncv1.GetBlobResponse) []*syncv1.GetBlobResponse { ms[0].Chunk[0] ^= 1; return ms }
		}, ErrTampered},
		{"a blob chunk at the wrong offset", func(l *liar, _ *node) {
			l.chunks = func(ms []*syncv1.GetBlobResponse) []*syncv1.GetBlobResponse { ms[1].Offset++; return ms }
		}, ErrTampered},
		{"a blob chunk repeated", func(l *liar, _ *node) {
			l.chunks = func(ms []*syncv1.GetBlobResponse) []*syncv1.GetBlobResponse { return append(ms[:1], ms...) }
		}, ErrTampered},
		{"a blob longer than declared", func(l *liar, _ *node) {
			l.chunks = func(ms []*syncv1.GetBlobResponse) []*syncv1.GetBlobResponse {
				last := ms[len(ms)-1]
				return append(ms, &syncv1.GetBlobResponse{Offset: last.Offset + uint64(len(last.Chunk)), Chunk: []byte("x")})
			}
		}, ErrTampered},
		{"a blob cut short", func(l *liar, _ *node) {
			l.chunks = func(ms []*syncv1.GetBlobResponse) []*syncv1.GetBlobResponse { return ms[:1] }
		}, ErrTampered},
		{"more to come, cursor stuck", func(l *liar, _ *node) {
			l.changes = func(r *syncv1.ChangesResponse) { r.More, r.LastSeq = true, 0 }
		}, ErrProtocol},
		{"an entry past last_seq", func(l *liar, _ *node) {
			l.changes = func(r *syncv1.ChangesResponse) { r.Changes[0].Seq = r.LastSeq + 1 }
		}, ErrProtocol},
		{"an unknown kind", func(l *liar, _ *node) {
			l.changes = func(r *syncv1.ChangesResponse) { r.Changes[0].Kind = 7 }
		}, ErrProtocol},
		{"a malformed id", func(l *liar, _ *node) {
			l.changes = func(r *syncv1.ChangesResponse) { r.Changes[0].PostId = r.Changes[0].PostId[:15] }
		}, ErrProtocol},
	} {
		for _, inline := range []bool{true, false} {
			name := tc.name + map[bool]string{true: "/posts in changes", false: "/posts by GetPosts"}[inline]
			t.Run(name, func(t *testing.T) { pullFromLiar(t, tc.lie, tc.want, !inline) })
		}
	}
}

// pullFromLiar has a reader pull an author whose server lies as lie makes it, and
// checks that the pull fails with want and stores nothing.
func pullFromLiar(t *testing.T, lie func(*liar, *node), want error, noInline bool) {
	t.Helper()
	l := &liar{noInline: noInline}
	author := newNode(t, "author", func(s *Server) syncv1.SyncServiceServer { l.Server = s; return l })
	reader := newNode(t, "reader", nil)
	befriend(t, author, reader)
	befriend(t, reader, author)
	att := author.blob(t, randomBytes(t, ChunkSize+10))
	ids := []post.ID{
		author.publish(t, "with a photo", feed.Default(), att),
		author.publish(t, "plain words", feed.Default()),
	}
	lie(l, author)
	var logged bytes.Buffer
	p := NewPuller(PullerConfig{Store: reader.st, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	res, err := p.Pull(ctxT(t), reader.client(t, author), author.pub())
	if !errors.Is(err, want) {
		t.Fatalf("pull from a liar: %v, want %v", err, want)
	}
	if want == ErrTampered && !strings.Contains(logged.String(), "rejected a") {
		t.Errorf("a forgery was not logged; the log says %q", logged.String())
	}
	if res.Stored != 0 || reader.cursor(t, author) != 0 || reader.count(t, author) != 0 {
		t.Errorf("a lie stored something: %+v, cursor %d, %d posts", res, reader.cursor(t, author), reader.count(t, author))
	}
	for _, id := range ids {
		if reader.holds(t, author, id) != 0 {
			t.Errorf("reader holds %s", id)
		}
	}
	if ok, err := reader.st.HasBlob(att.GetSha256()); ok || err != nil {
		t.Errorf("a lie left a blob stored (%v)", err)
	}
}

// TestFetchPostsAsksAgain: a server that leaves posts out of an answer is asked again
// for the rest, until an answer brings nothing.
func TestFetchPostsAsksAgain(t *testing.T) {
	l := &liar{}
	calls := 0
	author := newNode(t, "author", func(s *Server) syncv1.SyncServiceServer { l.Server = s; return l })
	reader := newNode(t, "reader", nil)
	befriend(t, author, reader)
	var ids []post.ID
	for range 5 {
		ids = append(ids, author.publish(t, "a post", feed.Default()))
	}
	ids = append(ids, author.publish(t, "hidden", feed.Audience{Me: true}))
	l.posts = func(r *syncv1.GetPostsResponse) { // one post per answer
		calls++
		r.Posts = r.Posts[:min(1, len(r.Posts))]
	}
	var befores int
	got, err := FetchPosts(ctxT(t), reader.client(t, author), author.pub(), ids, func(context.Context) error { befores++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || calls != 6 || befores != 6 {
		t.Errorf("got %d posts in %d calls (%d befores), want 5 in 6 (the last answers nothing)", len(got), calls, befores)
	}
	stop := errors.New("stop")
	if _, err := FetchPosts(ctxT(t), reader.client(t, author), author.pub(), ids, func(context.Context) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("a failing before: %v, want it returned", err)
	}
}

// TestFetchPostsChunksMaxIDs: more ids than one call may carry are asked in calls of
// MaxIDs, and a post envelope that does not open fails the fetch.
func TestFetchPostsChunksMaxIDs(t *testing.T) {
	l := &liar{}
	var sizes []int
	author := newNode(t, "author", func(s *Server) syncv1.SyncServiceServer { l.Server = s; return l })
	reader := newNode(t, "reader", nil)
	befriend(t, author, reader)
	id := author.publish(t, "the only post", feed.Default())
	ids := make([]post.ID, MaxIDs+1)
	for i := range ids {
		ids[i][0], ids[i][1] = byte(i>>8), byte(i)
	}
	ids[MaxIDs] = id
	l.posts = func(r *syncv1.GetPostsResponse) { sizes = append(sizes, len(r.Posts)) }
	got, err := FetchPosts(ctxT(t), reader.client(t, author), author.pub(), ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(sizes) != 2 || sizes[1] != 1 {
		t.Errorf("got %d posts; answers %v; want the post in the second of two calls", len(got), sizes)
	}
	l.posts = func(r *syncv1.GetPostsResponse) { r.Posts = append(r.Posts, &signedv1.Envelope{}) }
	if _, err := FetchPosts(ctxT(t), reader.client(t, author), author.pub(), []post.ID{id}, nil); !errors.Is(err, ErrTampered) {
		t.Errorf("an empty envelope: %v, want ErrTampered", err)
	}
}
