package syncer

import (
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

	for _, noInline := range []bool{false, true} {
		reader := newNode(t, "reader", nil)
		befriend(t, author, reader)
		befriend(t, reader, author)
		l.noInline = noInline
		l.getPosts.Store(0)
		res, err := NewPuller(PullerConfig{Store: reader.st, Logger: quiet()}).Pull(ctxT(t), reader.client(t, author), author.pub())
		if err != nil {
			t.Fatal(err)
		}
		want := map[bool]int32{false: 0, true: 1}[noInline]
		if got := l.getPosts.Load(); res.Stored != 3 || got != want {
			t.Errorf("server includes none: %v: stored %d posts with %d GetPosts calls, want 3 with %d", noInline, res.Stored, got, want)
		}
	}
}
