package crawl_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/crawl"
	"github.com/kithnet/kith/peer/crawl/crawltest"
	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/profile"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/syncer"
	"github.com/kithnet/kith/peer/transport"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// BenchmarkCrawl measures crawl throughput (posts/s indexed, every signature verified,
// no politeness delay) beside the peer-sync initial sync (syncer.Puller into a fresh
// store as a friend) of the same n public posts from the same in-process peer over the
// kith transport on loopback, in the same run, and reports their ratio. Both write with
// fsync, in batches of 500; each pass starts from an empty store or index.
func BenchmarkCrawl(b *testing.B) {
	const n = 10000
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	author, err := crawltest.Start(crawltest.Config{Home: b.TempDir(), NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer author.Close()
	nps := make([]store.NewPost, n)
	text := strings.Repeat("lorem ipsum ", 80)
	for i := range nps {
		nps[i] = store.NewPost{Text: fmt.Sprintf("%s #tag%d #bench", text, i%50), Audience: feed.Audience{Public: true}}
	}
	if _, err := author.Store.PublishMany(nps); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		// The machine is shared and fsync latency wanders: run each twice, in the order
		// sync, crawl, crawl, sync, and compare the better of each.
		s1, c1 := pullRate(b, author, n, log), crawlRate(b, author, n, log)
		c2, s2 := crawlRate(b, author, n, log), pullRate(b, author, n, log)
		syncRate, crawlRate := max(s1, s2), max(c1, c2)
		b.ReportMetric(syncRate, "sync-posts/s")
		b.ReportMetric(crawlRate, "crawl-posts/s")
		b.ReportMetric(crawlRate/syncRate, "crawl/sync")
		fmt.Printf("crawl %d public posts: %.0f posts/s indexed; peer-sync initial sync of the same posts: %.0f posts/s; ratio crawl/sync %.2f\n",
			n, crawlRate, syncRate, crawlRate/syncRate)
	}
}

func pullRate(b *testing.B, author *crawltest.Peer, n int, log *slog.Logger) float64 {
	b.Helper()
	st, err := store.Open(store.Config{Home: b.TempDir(), Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	key, _ := identity.Generate(nil)
	if err := st.Init(key, ""); err != nil {
		b.Fatal(err)
	}
	if err := st.PutFriend(store.Friend{Key: author.Key.Public()}); err != nil {
		b.Fatal(err)
	}
	if err := author.Store.PutFriend(store.Friend{Key: key.Public()}); err != nil {
		b.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	tr, err := transport.New(transport.Config{Key: key, PacketConn: pc, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	cc, err := tr.Client(author.Addr, author.Key.Public())
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	p := syncer.NewPuller(syncer.PullerConfig{Store: st, Logger: log})
	start := time.Now()
	res, err := p.Pull(context.Background(), syncv1.NewSyncServiceClient(cc), author.Key.Public())
	el := time.Since(start)
	if err != nil || res.Stored != n {
		b.Fatalf("pull: %+v, %v; want %d stored", res, err, n)
	}
	return float64(n) / el.Seconds()
}

func crawlRate(b *testing.B, author *crawltest.Peer, n int, log *slog.Logger) float64 {
	b.Helper()
	ix, err := crawl.OpenIndex(filepath.Join(b.TempDir(), "index.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	key, err := ix.Key()
	if err != nil {
		b.Fatal(err)
	}
	d, err := crawl.NewDirect(key, "127.0.0.1:0", log)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	cr := crawl.New(crawl.Config{Index: ix, Dialer: d, PeerInterval: -1, Logger: log})
	start := time.Now()
	sum, err := cr.Run(context.Background(), []profile.Follow{{Key: author.Key.Public(), Addr: author.Addr.String()}})
	el := time.Since(start)
	if err != nil || sum.Indexed != n {
		b.Fatalf("crawl: %+v, %v; want %d indexed", sum, err, n)
	}
	return float64(n) / el.Seconds()
}
