package syncer

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// role is who calls the author's server in the fuzz world.
type role int

const (
	rAuthor   role = iota
	rClose         // a friend in the group "close"
	rWork          // a friend in the group "work" only: a different group
	rNoGroup       // a friend in no group
	rStranger      // a key the author does not know
	nRoles
)

func (r role) String() string {
	return [...]string{"author", "close friend", "work friend", "groupless friend", "stranger"}[r]
}

// class is one kind of post in the fuzz world, with the answer the server must give each
// role, written out by hand. The table is the oracle: it does not call feed or the store,
// so a server whose visibility rule is wrong cannot agree with it by sharing the mistake.
type class struct {
	name string
	// first is the audience the post is published with; then, when set, the audience it
	// is narrowed to afterwards.
	first, then func(p map[role]identity.PublicKey) feed.Audience
	// post are the roles who may fetch the post now; revoked the roles whose feed must
	// say the post was revoked. Every other role must hear nothing of it.
	post, revoked []role
}

func aud(a feed.Audience) func(map[role]identity.PublicKey) feed.Audience {
	return func(map[role]identity.PublicKey) feed.Audience { return a }
}

func person(r role) func(map[role]identity.PublicKey) feed.Audience {
	return func(p map[role]identity.PublicKey) feed.Audience {
		return feed.Audience{People: []identity.ID{p[r].ID()}}
	}
}

var classes = []class{
	{name: "me", first: aud(feed.Audience{Me: true}), post: []role{rAuthor}},
	{name: "friends", first: aud(feed.Default()), post: []role{rAuthor, rClose, rWork, rNoGroup}},
	{name: "group close", first: aud(feed.Audience{Groups: []string{"close"}}), post: []role{rAuthor, rClose}},
	{name: "group work", first: aud(feed.Audience{Groups: []string{"work"}}), post: []role{rAuthor, rWork}},
	{name: "the close friend", first: person(rClose), post: []role{rAuthor, rClose}},
	{name: "the groupless friend", first: person(rNoGroup), post: []role{rAuthor, rNoGroup}},
	{name: "public", first: aud(feed.Audience{Public: true}), post: []role{rAuthor, rClose, rWork, rNoGroup, rStranger}},
	// A post once public was anyone's to see: everyone but the author hears it is gone.
	{name: "public, then me", first: aud(feed.Audience{Public: true}), then: aud(feed.Audience{Me: true}),
		post: []role{rAuthor}, revoked: []role{rClose, rWork, rNoGroup, rStranger}},
	// Only who saw a private post hears of its revocation.
	{name: "group close, then group work", first: aud(feed.Audience{Groups: []string{"close"}}), then: aud(feed.Audience{Groups: []string{"work"}}),
		post: []role{rAuthor, rWork}, revoked: []role{rClose}},
	{name: "the groupless friend, then me", first: person(rNoGroup), then: aud(feed.Audience{Me: true}),
		post: []role{rAuthor}, revoked: []role{rNoGroup}},
	{name: "friends, then public", first: aud(feed.Default()), then: aud(feed.Audience{Public: true}),
		post: []role{rAuthor, rClose, rWork, rNoGroup, rStranger}},
}

// perClass posts are published of each class, interleaved, so pages cut across classes.
const perClass = 4

// fuzzWorld is an author's store with posts of every class and the keys of every role.
type fuzzWorld struct {
	srv   *Server
	st    *store.Store
	keys  map[role]identity.PublicKey
	class map[post.ID]*class
}

func newFuzzWorld(t testing.TB) *fuzzWorld {
	t.Helper()
	w := &fuzzWorld{keys: map[role]identity.PublicKey{}, class: map[post.ID]*class{}}
	var author *identity.Key
	for r := range nRoles {
		k, err := identity.Generate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if r == rAuthor {
			author = k
		}
		w.keys[r] = k.Public()
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(store.Config{Home: t.TempDir(), Logger: quiet, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w.st = st
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.Init(author, "author"))
	must(st.PutFriend(store.Friend{Key: w.keys[rClose], Name: "close", Groups: []string{"close"}}))
	must(st.PutFriend(store.Friend{Key: w.keys[rWork], Name: "work", Groups: []string{"work"}}))
	must(st.PutFriend(store.Friend{Key: w.keys[rNoGroup], Name: "groupless"}))
	var narrow []post.ID
	for range perClass {
		for i := range classes {
			c := &classes[i]
			id, err := st.Publish(store.NewPost{Text: c.name, Audience: c.first(w.keys)})
			must(err)
			w.class[id] = c
			if c.then != nil {
				narrow = append(narrow, id)
			}
		}
	}
	for _, id := range narrow {
		must(st.SetAudience(id, w.class[id].then(w.keys)))
	}
	w.srv = NewServer(st, quiet)
	return w
}

// as makes the server take every call as coming from r.
func (w *fuzzWorld) as(r role) {
	k := w.keys[r]
	w.srv.caller = func(context.Context) (identity.PublicKey, bool) { return k, true }
}

// want returns the ids the oracle says r may fetch and must hear revoked.
func (w *fuzzWorld) want(r role) (posts, revoked map[post.ID]bool) {
	posts, revoked = map[post.ID]bool{}, map[post.ID]bool{}
	for id, c := range w.class {
		if slices.Contains(c.post, r) {
			posts[id] = true
		}
		if slices.Contains(c.revoked, r) {
			revoked[id] = true
		}
	}
	return posts, revoked
}

// checkChanges calls Changes as r and checks the answer against the bounds of the
// protocol and the oracle. A complete answer (from the start, nothing more) must name
// exactly what the oracle lists.
func (w *fuzzWorld) checkChanges(t *testing.T, r role, since uint64, limit uint32) {
	t.Helper()
	w.as(r)
	resp, err := w.srv.Changes(context.Background(), &syncv1.ChangesRequest{Since: since, Limit: limit})
	if err != nil {
		t.Fatalf("Changes(%d, %d) as %s: %v", since, limit, r, err)
	}
	max := int(min(limit, MaxLimit))
	if limit == 0 {
		max = DefaultLimit
	}
	if len(resp.Changes) > max {
		t.Fatalf("%d changes for limit %d, last %d since %d", len(resp.Changes), limit, resp.LastSeq, since)
	}
	if resp.LastSeq < since {
		// A cursor past the end of the view: the answer says where the view ends (a
		// restart), with nothing in it; a second call from there ends the same way.
		if len(resp.Changes) != 0 || resp.More {
			t.Fatalf("since %d past the end %d: %d changes, more %v; want none", since, resp.LastSeq, len(resp.Changes), resp.More)
		}
		again, err := w.srv.Changes(context.Background(), &syncv1.ChangesRequest{Since: resp.LastSeq, Limit: limit})
		if err != nil || len(again.Changes) != 0 || again.More || again.LastSeq != resp.LastSeq {
			t.Fatalf("since the end %d: %v, %v; want nothing after it", resp.LastSeq, again, err)
		}
		return
	}
	posts, revoked := w.want(r)
	w.checkIncluded(t, r, since, limit, resp, posts)
	gotPosts, gotRevoked := map[post.ID]bool{}, map[post.ID]bool{}
	prev := since
	for _, c := range resp.Changes {
		if c.Seq <= prev || c.Seq > resp.LastSeq {
			t.Fatalf("change seq %d out of order (after %d, last %d)", c.Seq, prev, resp.LastSeq)
		}
		prev = c.Seq
		id := post.ID(c.PostId)
		cl := w.class[id]
		if cl == nil {
			t.Fatalf("as %s: change names post %s, which the author never published", r, id)
		}
		switch c.Kind {
		case syncv1.ChangeKind_CHANGE_KIND_POST:
			if !posts[id] {
				t.Fatalf("the %s was offered a %q post it may not see", r, cl.name)
			}
			if c.Version == 0 {
				t.Fatalf("the %s was offered a %q post without its version", r, cl.name)
			}
			gotPosts[id] = true
		case syncv1.ChangeKind_CHANGE_KIND_REVOKED:
			if !revoked[id] {
				t.Fatalf("the %s was told of the revocation of a %q post", r, cl.name)
			}
			gotRevoked[id] = true
		default:
			t.Fatalf("as %s: change of kind %v", r, c.Kind)
		}
	}
	if since == 0 && limit == 0 && resp.More {
		t.Fatalf("the %s's feed of %d posts does not fit in the default limit", r, len(w.class))
	}
	if since == 0 && !resp.More {
		if len(gotPosts) != len(posts) || len(gotRevoked) != len(revoked) {
			t.Fatalf("the %s got %d posts and %d revocations, the oracle says %d and %d",
				r, len(gotPosts), len(gotRevoked), len(posts), len(revoked))
		}
	}
}

// TestChangesOracle: every role's whole feed is exactly what the table says.
func TestChangesOracle(t *testing.T) {
	w := newFuzzWorld(t)
	for r := range nRoles {
		t.Run(r.String(), func(t *testing.T) { w.checkChanges(t, r, 0, 0) })
	}
}

// checkIncluded asks Changes again as r, with its posts included: the same entries, and
// an envelope for each of their posts (a post entry's post, one the oracle lets r see,
// each once), no other.
func (w *fuzzWorld) checkIncluded(t *testing.T, r role, since uint64, limit uint32, plain *syncv1.ChangesResponse, may map[post.ID]bool) {
	t.Helper()
	resp, err := w.srv.Changes(context.Background(), &syncv1.ChangesRequest{Since: since, Limit: limit, IncludePosts: true})
	if err != nil {
		t.Fatalf("Changes(%d, %d) with posts as %s: %v", since, limit, r, err)
	}
	if !proto.Equal(&syncv1.ChangesResponse{Changes: resp.Changes, LastSeq: resp.LastSeq, More: resp.More}, plain) {
		t.Fatalf("as %s: the entries differ with posts included", r)
	}
	entries := map[post.ID]bool{}
	for _, c := range resp.Changes {
		if c.Kind == syncv1.ChangeKind_CHANGE_KIND_POST {
			entries[post.ID(c.PostId)] = true
		}
	}
	got := map[post.ID]bool{}
	for _, env := range resp.Posts {
		pl, err := post.OpenFrom(env, w.keys[rAuthor])
		if err != nil {
			t.Fatalf("included an envelope that does not open: %v", err)
		}
		id := post.ID(pl.GetId())
		if !may[id] || !entries[id] || got[id] {
			t.Fatalf("the %s got a %q post included (may see it: %v, an entry: %v, twice: %v)", r, w.class[id].name, may[id], entries[id], got[id])
		}
		got[id] = true
	}
	if len(got) != len(entries) {
		t.Fatalf("the %s got %d posts included for %d post entries", r, len(got), len(entries))
	}
}

// TestGetPostsOracle: asked for every post of the world, each role gets exactly the ones
// the table says it may fetch, and nothing for an id that does not exist.
func TestGetPostsOracle(t *testing.T) {
	w := newFuzzWorld(t)
	var all [][]byte
	for id := range w.class {
		all = append(all, id[:])
	}
	all = append(all, make([]byte, 16)) // no such post
	for r := range nRoles {
		t.Run(r.String(), func(t *testing.T) {
			w.as(r)
			resp, err := w.srv.GetPosts(context.Background(), &syncv1.GetPostsRequest{Ids: all})
			if err != nil {
				t.Fatal(err)
			}
			posts, _ := w.want(r)
			got := map[post.ID]bool{}
			for _, env := range resp.Posts {
				pl, err := post.OpenFrom(env, w.keys[rAuthor])
				if err != nil {
					t.Fatalf("served an envelope that does not open: %v", err)
				}
				id := post.ID(pl.GetId())
				if !posts[id] {
					t.Fatalf("the %s got a %q post", r, w.class[id].name)
				}
				got[id] = true
			}
			if len(got) != len(posts) || len(resp.Posts) != len(posts) {
				t.Fatalf("the %s got %d posts (%d envelopes), the oracle says %d", r, len(got), len(resp.Posts), len(posts))
			}
		})
	}
}

// FuzzChanges calls the Changes handler as any role with any since and limit: it must
// answer in order, within bounds, and exactly as the oracle says.
func FuzzChanges(f *testing.F) {
	w := newFuzzWorld(f)
	for r := range nRoles {
		f.Add(uint64(0), uint32(0), uint8(r))
		f.Add(uint64(7), uint32(3), uint8(r))
	}
	f.Add(uint64(1<<63), uint32(1<<31), uint8(3))
	f.Fuzz(func(t *testing.T, since uint64, limit uint32, who uint8) {
		w.checkChanges(t, role(int(who)%int(nRoles)), since, limit)
	})
}
