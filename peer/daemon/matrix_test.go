package daemon_test

import (
	"context"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"testing"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// audienceCase is one row of the audience matrix: who should see a post.
type audienceCase struct {
	name                 string
	audience             func(in, out *peer) feed.Audience
	inside, outside, str bool
}

var matrix = []audienceCase{
	{"me", func(_, _ *peer) feed.Audience { return feed.Audience{Me: true} }, false, false, false},
	{"friends", func(_, _ *peer) feed.Audience { return feed.Audience{Friends: true} }, true, true, false},
	{"group", func(_, _ *peer) feed.Audience { return feed.Audience{Groups: []string{"close"}} }, true, false, false},
	{"individual", func(in, _ *peer) feed.Audience { return feed.Audience{People: []identity.ID{in.key.ID()}} }, true, false, false},
	{"public", func(_, _ *peer) feed.Audience { return feed.Audience{Public: true} }, true, true, true},
	{"group+individual", func(_, out *peer) feed.Audience {
		return feed.Audience{Groups: []string{"close"}, People: []identity.ID{out.key.ID()}}
	}, true, true, false},
	{"me+group", func(_, _ *peer) feed.Audience { return feed.Audience{Me: true, Groups: []string{"close"}} }, true, false, false},
}

// matrixPeers: author has friends inside (in group "close") and outside (no group); the
// stranger follows author, but author does not know it.
func matrixPeers(t *testing.T) (author, inside, outside, stranger *peer) {
	author, inside, outside, stranger = newPeer(t, "author"), newPeer(t, "inside"), newPeer(t, "outside"), newPeer(t, "stranger")
	befriend(t, author, inside, "close")
	befriend(t, author, outside)
	for _, p := range []*peer{inside, outside, stranger} {
		befriend(t, p, author)
	}
	return
}

func TestAudienceMatrixInProcess(t *testing.T) {
	author, inside, outside, stranger := matrixPeers(t)
	ids := map[string]post.ID{}
	for _, c := range matrix {
		ids[c.name] = author.publish(t, "post for "+c.name+" #matrix", c.audience(inside, outside))
	}
	viewers := []struct {
		p    *peer
		want func(audienceCase) bool
	}{
		{inside, func(c audienceCase) bool { return c.inside }},
		{outside, func(c audienceCase) bool { return c.outside }},
		{stranger, func(c audienceCase) bool { return c.str }},
	}
	for _, v := range viewers {
		v.p.sync(t, author)
		want := 0
		for _, c := range matrix {
			got, _, _ := v.p.holds(t, author, ids[c.name])
			if got != v.want(c) {
				t.Errorf("%s holds %q post: %v, want %v", v.p.name, c.name, got, v.want(c))
			}
			if v.want(c) {
				want++
			}
		}
		if n := v.p.count(t, author); n != want {
			t.Errorf("%s holds %d of author's posts, want exactly %d", v.p.name, n, want)
		}
		// The raw feed names no post outside the viewer's audience, not even its id.
		assertFeedOnly(t, v.p, author, ids, func(name string) bool {
			for _, c := range matrix {
				if c.name == name {
					return v.want(c)
				}
			}
			return false
		})
	}
	// Author's own feed, asked by author (recovery), has everything.
	self := author.client(t, author)
	resp, err := self.Changes(context.Background(), &syncv1.ChangesRequest{})
	if err != nil || len(resp.Changes) != len(matrix) {
		t.Fatalf("author's own feed: %d entries, err %v; want %d", len(resp.GetChanges()), err, len(matrix))
	}
}

// assertFeedOnly checks that every id in viewer's raw feed (Changes and GetPosts of all
// ids) is one it may see.
func assertFeedOnly(t *testing.T, viewer, author *peer, ids map[string]post.ID, may func(string) bool) {
	t.Helper()
	assertFeed(t, viewer, author, ids, may, func(string) bool { return false })
}

// assertFeed checks viewer's raw feed from author: a POST entry and a GetPosts answer
// only for what it may see; a REVOKED entry only for that or for what it saw before.
func assertFeed(t *testing.T, viewer, author *peer, ids map[string]post.ID, may, saw func(string) bool) {
	t.Helper()
	c := viewer.client(t, author)
	resp, err := c.Changes(context.Background(), &syncv1.ChangesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var all [][]byte
	byID := map[post.ID]string{}
	for name, id := range ids {
		byID[id] = name
		all = append(all, id[:])
	}
	for _, ch := range resp.Changes {
		name := byID[post.ID(ch.PostId)]
		ok := may(name) || (ch.Kind == syncv1.ChangeKind_CHANGE_KIND_REVOKED && saw(name))
		if !ok {
			t.Errorf("%s's feed names the %q post (%v), outside its audience", viewer.name, name, ch.Kind)
		}
	}
	got, err := c.GetPosts(context.Background(), &syncv1.GetPostsRequest{Ids: all})
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range got.Posts {
		p, err := post.Open(env)
		if err != nil {
			t.Fatal(err)
		}
		if name := byID[post.ID(p.Id)]; !may(name) {
			t.Errorf("GetPosts gave %s the %q post, outside its audience", viewer.name, name)
		}
	}
}

func TestEditDeleteRevoke(t *testing.T) {
	author, inside, outside, stranger := matrixPeers(t)
	edited := author.publish(t, "first draft", feed.Default())
	deleted := author.publish(t, "regret", feed.Audience{Groups: []string{"close"}})
	revoked := author.publish(t, "for inside only", feed.Audience{People: []identity.ID{inside.key.ID()}})
	unpublic := author.publish(t, "public for now", feed.Audience{Public: true})
	for _, p := range []*peer{inside, outside, stranger} {
		p.sync(t, author)
	}
	if ok, _, _ := inside.holds(t, author, revoked); !ok {
		t.Fatal("inside lacks the post shared with it")
	}

	if err := author.st.Edit(edited, "second draft #edited"); err != nil {
		t.Fatal(err)
	}
	if err := author.st.Delete(deleted); err != nil {
		t.Fatal(err)
	}
	if err := author.st.SetAudience(revoked, feed.Audience{Me: true}); err != nil {
		t.Fatal(err)
	}
	if err := author.st.SetAudience(unpublic, feed.Audience{Groups: []string{"close"}}); err != nil {
		t.Fatal(err)
	}
	// outside saw neither the revoked nor the deleted post: its feed must not name them.
	c := outside.client(t, author)
	cur, _ := outside.st.Cursor(author.pub())
	resp, err := c.Changes(context.Background(), &syncv1.ChangesRequest{Since: cur})
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range resp.Changes {
		if id := post.ID(ch.PostId); id == revoked || id == deleted {
			t.Errorf("outside's feed names a post it never saw: %v", ch)
		}
	}
	for _, p := range []*peer{inside, outside, stranger} {
		p.sync(t, author)
	}

	tests := []struct {
		who     *peer
		id      post.ID
		what    string
		has     bool
		version uint64
		deleted bool
	}{
		{inside, edited, "edited", true, 2, false},
		{outside, edited, "edited", true, 2, false},
		{inside, deleted, "deleted", true, 2, true},
		{inside, revoked, "revoked", false, 0, false},
		{inside, unpublic, "still visible", true, 2, false},
		{outside, unpublic, "no longer public", false, 0, false},
		{stranger, unpublic, "no longer public", false, 0, false},
	}
	for _, tc := range tests {
		has, v, del := tc.who.holds(t, author, tc.id)
		if has != tc.has || v != tc.version || del != tc.deleted {
			t.Errorf("%s, %s post: holds %v version %d deleted %v; want %v %d %v",
				tc.who.name, tc.what, has, v, del, tc.has, tc.version, tc.deleted)
		}
	}
	st, err := inside.st.Post(author.pub(), edited)
	if err != nil || st.Payload.Text != "second draft #edited" || len(st.Payload.Hashtags) != 1 {
		t.Errorf("edited post at inside: %v %v", st.Payload, err)
	}
	// A repeated pull changes nothing.
	if res := inside.sync(t, author); res.Stored != 0 || res.Dropped != 0 {
		t.Errorf("repeated pull stored %d, dropped %d; want nothing", res.Stored, res.Dropped)
	}
}

// A friend moved into a group gets the group's earlier posts; moved out, a revocation.
func TestRegroupingResequences(t *testing.T) {
	author, _, outside, _ := matrixPeers(t)
	id := author.publish(t, "group news", feed.Audience{Groups: []string{"close"}})
	outside.sync(t, author)
	if ok, _, _ := outside.holds(t, author, id); ok {
		t.Fatal("outside holds a group post before joining the group")
	}
	befriend(t, author, outside, "close")
	outside.sync(t, author)
	if ok, _, _ := outside.holds(t, author, id); !ok {
		t.Fatal("outside, now in the group, did not get the group's post")
	}
	befriend(t, author, outside)
	outside.sync(t, author)
	if ok, _, _ := outside.holds(t, author, id); ok {
		t.Fatal("outside, out of the group again, still holds the group's post")
	}
}

// Posts near the 64 KiB limit add up past gRPC's message limit: every one still arrives.
func TestLargePostsArriveInSeveralAnswers(t *testing.T) {
	author, reader := newPeer(t, "author"), newPeer(t, "reader")
	befriend(t, author, reader)
	befriend(t, reader, author)
	nps := make([]store.NewPost, 120)
	for i := range nps {
		nps[i] = store.NewPost{Text: strings.Repeat("w", post.MaxText-10)}
	}
	if _, err := author.st.PublishMany(nps); err != nil {
		t.Fatal(err)
	}
	hidden := author.publish(t, "not for reader", feed.Audience{Me: true})
	res := reader.sync(t, author)
	if res.Stored != len(nps) || reader.count(t, author) != len(nps) {
		t.Fatalf("stored %d, holds %d; want %d", res.Stored, reader.count(t, author), len(nps))
	}
	if ok, _, _ := reader.holds(t, author, hidden); ok {
		t.Fatal("reader holds a post for the author alone")
	}
}

// GetBlob answers only those who may see a post attaching the blob; to the others a
// blob they may not see is exactly like one that does not exist.
func TestBlobAudience(t *testing.T) {
	author, inside, outside, stranger := matrixPeers(t)
	att, err := author.st.PutBlob(strings.NewReader("a photo for the close group"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := author.st.Publish(store.NewPost{Text: "photo", Attachments: []*postv1.Attachment{att}, Audience: feed.Audience{Groups: []string{"close"}}}); err != nil {
		t.Fatal(err)
	}
	missing := make([]byte, 32)
	for _, tc := range []struct {
		who  *peer
		sha  []byte
		want codes.Code
	}{
		{inside, att.Sha256, codes.OK},
		{outside, att.Sha256, codes.NotFound},
		{stranger, att.Sha256, codes.NotFound},
		{inside, missing, codes.NotFound},
		{inside, []byte("short"), codes.InvalidArgument},
	} {
		stream, err := tc.who.client(t, author).GetBlob(context.Background(), &syncv1.GetBlobRequest{Sha256: tc.sha})
		if err == nil {
			var msg *syncv1.GetBlobResponse
			msg, err = stream.Recv()
			if err == nil && string(msg.Chunk) != "a photo for the close group" {
				t.Errorf("%s got %q", tc.who.name, msg.Chunk)
			}
		}
		if got := status.Code(err); got != tc.want {
			t.Errorf("%s GetBlob(%x): %v, want %v", tc.who.name, tc.sha[:4], err, tc.want)
		}
	}
	for _, p := range []*peer{inside, outside, stranger} {
		p.sync(t, author)
	}
	if ok, _ := inside.st.HasBlob(att.Sha256); !ok {
		t.Error("inside did not get the photo with the post")
	}
	for _, p := range []*peer{outside, stranger} {
		if ok, _ := p.st.HasBlob(att.Sha256); ok {
			t.Errorf("%s got a photo outside its audience", p.name)
		}
	}
}

// A friend removed becomes a stranger: its next pull drops what it may no longer see and
// keeps what is public.
func TestRemovedFriendGetsRevocations(t *testing.T) {
	author, inside, _, _ := matrixPeers(t)
	private := author.publish(t, "for friends", feed.Default())
	public := author.publish(t, "for all", feed.Audience{Public: true})
	inside.sync(t, author)
	if inside.count(t, author) != 2 {
		t.Fatalf("inside holds %d posts before removal, want 2", inside.count(t, author))
	}
	if err := author.st.RemoveFriend(inside.pub()); err != nil {
		t.Fatal(err)
	}
	res := inside.sync(t, author)
	if ok, _, _ := inside.holds(t, author, private); ok || res.Dropped != 1 {
		t.Errorf("after removal: still holds the friends-only post (dropped %d)", res.Dropped)
	}
	if ok, _, _ := inside.holds(t, author, public); !ok {
		t.Error("after removal: lost the public post")
	}
}
