package syncer

import (
	"context"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
)

// TestChangesIncludePosts: a Changes answer that includes its posts holds exactly what
// GetPosts answers the same caller for the same ids, for a friend and for a stranger,
// and nothing when not asked; a pull then asks no GetPosts, and still stores every post
// when the server includes none.
func TestChangesIncludePosts(t *testing.T) {
	l := &liar{}
	author := newNode(t, "author", func(s *Server) syncv1.SyncServiceServer { l.Server = s; return l })
	friend, stranger := newNode(t, "friend", nil), newNode(t, "stranger", nil)
	befriend(t, author, friend)
	befriend(t, friend, author)
	author.publish(t, "for friends", feed.Default())
	public := author.publish(t, "for everyone", feed.Audience{Public: true})
	private := author.publish(t, "for the author alone", feed.Audience{Me: true})
	author.publish(t, "for friends too", feed.Default())

	for _, c := range []struct {
		name   string
		reader *node
		posts  int
	}{{"friend", friend, 3}, {"stranger", stranger, 1}} {
		cl := c.reader.client(t, author)
		plain, err := cl.Changes(ctxT(t), &syncv1.ChangesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(plain.GetPosts()) != 0 {
			t.Errorf("%s: %d posts in a Changes answer that did not ask for them", c.name, len(plain.GetPosts()))
		}
		resp, err := cl.Changes(ctxT(t), &syncv1.ChangesRequest{IncludePosts: true})
		if err != nil {
			t.Fatal(err)
		}
		var ids [][]byte
		for _, ch := range resp.GetChanges() {
			ids = append(ids, ch.GetPostId())
		}
		got, err := cl.GetPosts(ctxT(t), &syncv1.GetPostsRequest{Ids: ids})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetPosts()) != c.posts || len(got.GetPosts()) != c.posts {
			t.Fatalf("%s: %d posts included, %d by GetPosts, want %d", c.name, len(resp.GetPosts()), len(got.GetPosts()), c.posts)
		}
		for i, env := range resp.GetPosts() {
			if !proto.Equal(env, got.GetPosts()[i]) {
				t.Errorf("%s: included post %d differs from GetPosts'", c.name, i)
			}
			pl, err := post.Open(env)
			if err != nil {
				t.Fatal(err)
			}
			if id := post.ID(pl.GetId()); id == private || c.reader == stranger && id != public {
				t.Errorf("%s: sees %s", c.name, id)
			}
		}
	}

	// One post a step: three steps, each with its posts included, or each asking GetPosts.
	for _, noInline := range []bool{false, true} {
		reader := newNode(t, "reader", nil)
		befriend(t, author, reader)
		befriend(t, reader, author)
		l.noInline = noInline
		l.getPosts.Store(0)
		p := NewPuller(PullerConfig{Store: reader.st, Logger: quiet(), BatchSize: 1})
		res, err := p.Pull(ctxT(t), reader.client(t, author), author.pub())
		if err != nil {
			t.Fatal(err)
		}
		want := map[bool]int32{false: 0, true: 3}[noInline]
		if got := l.getPosts.Load(); res.Stored != 3 || got != want {
			t.Errorf("server includes none: %v: stored %d posts with %d GetPosts calls, want 3 with %d", noInline, res.Stored, got, want)
		}
	}
	l.noInline = false

	// A Changes answer with only some of its posts included (past the answer's size):
	// the rest are asked for.
	reader := newNode(t, "reader", nil)
	befriend(t, author, reader)
	befriend(t, reader, author)
	l.posts = func(r *syncv1.GetPostsResponse) { r.Posts = r.Posts[:min(1, len(r.Posts))] }
	l.getPosts.Store(0)
	res, err := NewPuller(PullerConfig{Store: reader.st, Logger: quiet()}).Pull(ctxT(t), reader.client(t, author), author.pub())
	if err != nil {
		t.Fatal(err)
	}
	if got := l.getPosts.Load(); res.Stored != 3 || got != 2 {
		t.Errorf("one post of three included: stored %d with %d GetPosts calls, want 3 with 2 (one post each)", res.Stored, got)
	}
}

// TestPullAnswered: PullHooks.Answered says, once, what the first Changes answer said:
// a friend's node counts us as one, a stranger's does not; Result.Stranger agrees.
func TestPullAnswered(t *testing.T) {
	author := newNode(t, "author", nil)
	friend, stranger := newNode(t, "friend", nil), newNode(t, "stranger", nil)
	befriend(t, author, friend)
	befriend(t, friend, author)
	befriend(t, stranger, author)
	author.publish(t, "for everyone", feed.Audience{Public: true})
	author.publish(t, "for everyone too", feed.Audience{Public: true})
	for _, c := range []struct {
		reader *node
		want   bool
	}{{friend, false}, {stranger, true}} {
		var calls []bool
		p := NewPuller(PullerConfig{Store: c.reader.st, Logger: quiet(), BatchSize: 1})
		res, err := p.PullWith(ctxT(t), c.reader.client(t, author), author.pub(), PullHooks{Answered: func(s bool) { calls = append(calls, s) }})
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != 1 || calls[0] != c.want || res.Stranger != c.want || res.Stored != 2 {
			t.Errorf("%s: Answered %v, Result.Stranger %v, stored %d; want [%v] once, %v, 2", c.reader.name, calls, res.Stranger, res.Stored, c.want, c.want)
		}
	}
}

// convoWatch is a friend's real server that counts GetConversations calls and, with
// strip set, includes no conversations in its Changes answers (an older kith's).
type convoWatch struct {
	*Server
	calls atomic.Int32
	strip bool
}

func (w *convoWatch) GetConversations(req *syncv1.GetConversationsRequest, stream syncv1.SyncService_GetConversationsServer) error {
	w.calls.Add(1)
	return w.Server.GetConversations(req, stream)
}

func (w *convoWatch) Changes(ctx context.Context, req *syncv1.ChangesRequest) (*syncv1.ChangesResponse, error) {
	resp, err := w.Server.Changes(ctx, req)
	if err == nil && w.strip {
		resp.Conversations = nil
	}
	return resp, err
}

// TestChangesIncludeConversations: a pull takes the conversations its Changes answer
// includes without asking GetConversations, keeps none of a deleted post's, and asks
// for them when the server includes none.
func TestChangesIncludeConversations(t *testing.T) {
	w := &convoWatch{}
	author := newNode(t, "author", func(s *Server) syncv1.SyncServiceServer { w.Server = s; return w })
	bob := newNode(t, "bob", nil)
	befriend(t, author, bob)
	befriend(t, bob, author)
	live := author.publish(t, "stays", feed.Default())
	gone := author.publish(t, "goes", feed.Default())
	for _, id := range []post.ID{live, gone} {
		if err := Deliver(ctxT(t), bob.client(t, author), bob.st, bob.replyWith(t, author, id, false)); err != nil {
			t.Fatal(err)
		}
	}
	if err := author.st.Delete(gone); err != nil {
		t.Fatal(err)
	}
	for _, strip := range []bool{false, true} {
		reader := newNode(t, "reader", nil)
		befriend(t, author, reader)
		befriend(t, reader, author)
		w.strip = strip
		w.calls.Store(0)
		if _, err := NewPuller(PullerConfig{Store: reader.st, Logger: quiet()}).Pull(ctxT(t), reader.client(t, author), author.pub()); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int32{false: 0, true: 1}[strip]; w.calls.Load() != want {
			t.Errorf("none included: %v: %d GetConversations calls, want %d", strip, w.calls.Load(), want)
		}
		if recs, err := reader.st.Thread(author.pub(), live); err != nil || len(recs) != 1 {
			t.Errorf("none included: %v: the live post's thread: %d records, %v; want bob's reply", strip, len(recs), err)
		}
		if recs, _ := reader.st.Thread(author.pub(), gone); len(recs) != 0 {
			t.Errorf("none included: %v: %d records of a deleted post's conversation kept", strip, len(recs))
		}
	}
}

// TestIncludedConversationsFitTheAnswer: a Changes answer includes whole conversations
// only, in order, as many as fit: none when the first does not, the first alone when
// the second does not.
func TestIncludedConversationsFitTheAnswer(t *testing.T) {
	author, bob := newNode(t, "author", nil), newNode(t, "bob", nil)
	befriend(t, author, bob)
	befriend(t, bob, author)
	ids := []post.ID{author.publish(t, "one", feed.Default()), author.publish(t, "two", feed.Default())}
	bc := bob.client(t, author)
	for _, id := range ids {
		for range 3 {
			if err := Deliver(ctxT(t), bc, bob.st, bob.replyWith(t, author, id, false)); err != nil {
				t.Fatal(err)
			}
		}
	}
	all := &syncv1.ChangesResponse{}
	if err := author.srv.includeConversations(bob.pub(), ids, all, MaxAnswer); err != nil || len(all.Conversations) != 4 {
		t.Fatalf("everything fits: %d messages, %v; want 4 (records and end, twice)", len(all.Conversations), err)
	}
	first := proto.Size(all.Conversations[0]) + proto.Size(all.Conversations[1]) + 16
	for _, c := range []struct {
		budget int
		want   int
	}{{first - 1, 0}, {first, 2}, {first + proto.Size(all.Conversations[2]) + 8, 2}} {
		resp := &syncv1.ChangesResponse{}
		if err := author.srv.includeConversations(bob.pub(), ids, resp, c.budget); err != nil || len(resp.Conversations) != c.want {
			t.Errorf("budget %d: %d messages, %v; want %d", c.budget, len(resp.Conversations), err, c.want)
		}
		for i, m := range resp.Conversations {
			if !proto.Equal(m, all.Conversations[i]) {
				t.Errorf("budget %d: message %d differs from the whole answer's", c.budget, i)
			}
		}
	}
}
