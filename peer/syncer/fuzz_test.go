package syncer

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"testing"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// fuzzWorld is an author's store with posts for several audiences, one revoked, and the
// keys of a friend inside the group, a friend outside, and a stranger.
type fuzzWorld struct {
	srv      *Server
	viewers  []identity.PublicKey
	audience map[post.ID]feed.Audience // now
	was      map[post.ID]feed.Audience // before a narrowing, for the revoked post
	st       *store.Store
}

func newFuzzWorld(t testing.TB) *fuzzWorld {
	t.Helper()
	gen := func() *identity.Key {
		k, err := identity.Generate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	author, in, out, str := gen(), gen(), gen(), gen()
	st, err := store.Open(store.Config{Home: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.Init(author, "author")
	st.PutFriend(store.Friend{Key: in.Public(), Groups: []string{"close"}})
	st.PutFriend(store.Friend{Key: out.Public()})
	w := &fuzzWorld{st: st, viewers: []identity.PublicKey{author.Public(), in.Public(), out.Public(), str.Public()}, audience: map[post.ID]feed.Audience{}, was: map[post.ID]feed.Audience{}}
	for i := range 40 {
		a := []feed.Audience{{Me: true}, feed.Default(), {Groups: []string{"close"}}, {People: []identity.ID{in.ID()}}, {Public: true}}[i%5]
		id, err := st.Publish(store.NewPost{Text: "p", Audience: a})
		if err != nil {
			t.Fatal(err)
		}
		w.audience[id] = a
	}
	for id, a := range w.audience {
		if a.Public || len(a.People) > 0 {
			if err := st.SetAudience(id, feed.Audience{Me: true}); err != nil {
				t.Fatal(err)
			}
			w.was[id], w.audience[id] = a, feed.Audience{Me: true}
			break
		}
	}
	w.srv = NewServer(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return w
}

// FuzzChanges calls the Changes handler as any of four callers with any since and limit:
// it must answer in order, within bounds, and never name a post the caller never could see.
func FuzzChanges(f *testing.F) {
	w := newFuzzWorld(f)
	f.Add(uint64(0), uint32(0), uint8(0))
	f.Add(uint64(3), uint32(5), uint8(1))
	f.Add(uint64(1<<63), uint32(1<<31), uint8(3))
	f.Fuzz(func(t *testing.T, since uint64, limit uint32, who uint8) {
		caller := w.viewers[int(who)%len(w.viewers)]
		w.srv.caller = func(context.Context) (identity.PublicKey, bool) { return caller, true }
		resp, err := w.srv.Changes(context.Background(), &syncv1.ChangesRequest{Since: since, Limit: limit})
		if err != nil {
			t.Fatalf("Changes(%d, %d): %v", since, limit, err)
		}
		v, _ := w.st.Viewer(caller)
		max := int(min(limit, MaxLimit))
		if limit == 0 {
			max = DefaultLimit
		}
		if len(resp.Changes) > max || resp.LastSeq < since {
			t.Fatalf("%d changes for limit %d, last %d since %d", len(resp.Changes), limit, resp.LastSeq, since)
		}
		prev := since
		for _, c := range resp.Changes {
			if c.Seq <= prev || c.Seq > resp.LastSeq {
				t.Fatalf("change seq %d out of order (after %d, last %d)", c.Seq, prev, resp.LastSeq)
			}
			prev = c.Seq
			a := w.audience[post.ID(c.PostId)]
			if c.Kind == syncv1.ChangeKind_CHANGE_KIND_POST && !feed.Visible(a, v) {
				t.Fatalf("caller %s was told of a post it may not see", caller.Short())
			}
			if was, ok := w.was[post.ID(c.PostId)]; c.Kind == syncv1.ChangeKind_CHANGE_KIND_REVOKED && (!ok || !feed.Visible(was, v)) {
				t.Fatalf("caller %s was told of the revocation of a post it never could see", caller.Short())
			}
		}
	})
}
