package crawl_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/crawl"
	"github.com/kithnet/kith/peer/crawl/crawltest"
	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/profile"
	"github.com/kithnet/kith/peer/store"
)

func startPeer(t *testing.T, tamper bool) *crawltest.Peer {
	t.Helper()
	p, err := crawltest.Start(crawltest.Config{Home: t.TempDir(), Tamper: tamper})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func publish(t *testing.T, p *crawltest.Peer, text string, public bool) post.ID {
	t.Helper()
	a := feed.Default()
	if public {
		a = feed.Audience{Public: true}
	}
	id, err := p.Store.Publish(store.NewPost{Text: text, Audience: a})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func openIndex(t *testing.T) *crawl.Index {
	t.Helper()
	ix, err := crawl.OpenIndex(filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

func newCrawler(t *testing.T, ix *crawl.Index) *crawl.Crawler {
	t.Helper()
	key, err := ix.Key()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := crawl.NewDirect(key, "127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return crawl.New(crawl.Config{Index: ix, Dialer: d, PeerInterval: -1, PeerTimeout: 10 * time.Second, Logger: log})
}

func search(t *testing.T, ix *crawl.Index, q string) []crawl.Result {
	t.Helper()
	pq, err := crawl.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ix.Search(pq, 0)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func ids(rs []crawl.Result) []post.ID {
	var out []post.ID
	for _, r := range rs {
		if !r.Verified {
			return nil
		}
		out = append(out, r.ID)
	}
	return out
}

func same(a, b []post.ID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCrawl: seeds A; A publishes B (with an address) in its follow list; B mentions C
// (no address: not followable in direct mode) and D, whose address only a seed gives.
// T serves posts whose signatures do not verify. Only public, verified posts arrive;
// edits, deletes and a post made private follow on the next crawl, from each cursor.
func TestCrawl(t *testing.T) {
	ctx := context.Background()
	a, b, c, tm := startPeer(t, false), startPeer(t, false), startPeer(t, false), startPeer(t, true)
	a1 := publish(t, a, "hello #kith world", true)
	publish(t, a, "secret #kith plans", false)
	time.Sleep(2 * time.Millisecond)
	a2 := publish(t, a, "more #kith news", true)
	time.Sleep(2 * time.Millisecond) // distinct times: the order below is by time
	b1 := publish(t, b, "#kith says hi to "+string(c.Key.ID()), true)
	publish(t, c, "#kith from c", true)
	publish(t, tm, "#kith forged", true)
	if err := a.Store.SetPublicFollows([]profile.Follow{{Key: b.Key.Public(), Addr: b.Addr.String()}}); err != nil {
		t.Fatal(err)
	}
	ix := openIndex(t)
	cr := newCrawler(t, ix)
	seeds := []profile.Follow{{Key: a.Key.Public(), Addr: a.Addr.String()}, {Key: tm.Key.Public(), Addr: tm.Addr.String()}}
	sum, err := cr.Run(ctx, seeds)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Visited != 2 || sum.Indexed != 3 || len(sum.Failed) != 2 {
		t.Fatalf("summary %+v: want A and B visited, 3 posts, T (tampered) and C (no address) failed", sum)
	}
	for _, f := range sum.Failed {
		switch f.Peer {
		case tm.Key.Public():
			if !errors.Is(f.Err, crawl.ErrTampered) {
				t.Errorf("T failed with %v, want ErrTampered", f.Err)
			}
		case c.Key.Public():
			if !errors.Is(f.Err, crawl.ErrNoAddress) {
				t.Errorf("C failed with %v, want ErrNoAddress", f.Err)
			}
		default:
			t.Errorf("unexpected failure %v", f)
		}
	}
	if got, want := ids(search(t, ix, "#kith")), []post.ID{b1, a2, a1}; !same(got, want) {
		t.Fatalf("#kith found %v, want %v (newest first, verified)", got, want)
	}
	if got := ids(search(t, ix, "#KITH from:"+string(a.Key.ID())+" hello")); !same(got, []post.ID{a1}) {
		t.Fatalf("#kith from:A hello found %v, want [%s]", got, a1)
	}
	if got := search(t, ix, "secret"); len(got) != 0 {
		t.Fatalf("a private post was indexed: %v", got)
	}

	// Resume: nothing new, then an edit, a delete and a post made private.
	if sum, err := cr.Run(ctx, seeds[:1]); err != nil || sum.Indexed != 0 {
		t.Fatalf("second crawl: %+v, %v; want nothing new", sum, err)
	}
	if err := a.Store.Edit(a1, "edited #news"); err != nil {
		t.Fatal(err)
	}
	if err := a.Store.SetAudience(a2, feed.Default()); err != nil {
		t.Fatal(err)
	}
	if err := b.Store.Delete(b1); err != nil {
		t.Fatal(err)
	}
	sum, err = cr.Run(ctx, seeds[:1])
	if err != nil || sum.Indexed != 1 || sum.Removed != 2 {
		t.Fatalf("third crawl: %+v, %v; want 1 indexed (the edit) and 2 removed (made private, deleted)", sum, err)
	}
	if got := search(t, ix, "#kith"); len(got) != 0 {
		t.Fatalf("#kith still finds %d posts after edit, private and delete", len(got))
	}
	if got := ids(search(t, ix, "#news")); !same(got, []post.ID{a1}) {
		t.Fatalf("#news found %v, want the edited post", got)
	}
}

// TestBudget: --max-peers stops the crawl and says so.
func TestBudget(t *testing.T) {
	a, b := startPeer(t, false), startPeer(t, false)
	publish(t, a, "x #t", true)
	if err := a.Store.SetPublicFollows([]profile.Follow{{Key: b.Key.Public(), Addr: b.Addr.String()}}); err != nil {
		t.Fatal(err)
	}
	ix := openIndex(t)
	key, _ := ix.Key()
	d, err := crawl.NewDirect(key, "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cr := crawl.New(crawl.Config{Index: ix, Dialer: d, MaxPeers: 1})
	sum, err := cr.Run(context.Background(), []profile.Follow{{Key: a.Key.Public(), Addr: a.Addr.String()}})
	if err != nil || sum.Visited != 1 || !sum.Budget {
		t.Fatalf("summary %+v, %v: want 1 peer visited and the budget reached", sum, err)
	}
}
