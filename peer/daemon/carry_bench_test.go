package daemon_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/daemon"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/syncer"
	"github.com/kithnet/kith/shared/identity"
)

// benchPeer is a node whose pull steps are timed: done closes when want posts by author
// are stored.
type benchPeer struct {
	*peer
	mu     sync.Mutex
	stored int
}

func newBenchPeer(b *testing.B, name string) *benchPeer {
	b.Helper()
	key, err := identity.Generate(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(store.Config{Home: b.TempDir(), Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if err := st.Init(key, name); err != nil {
		b.Fatal(err)
	}
	bp := &benchPeer{peer: &peer{name: name, key: key, st: st}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pc.Close() })
	node, err := daemon.Start(daemon.Config{Store: st, PacketConn: pc, Logger: quietLogger(),
		Progress: func(_ identity.PublicKey, step store.Applied, _ uint64) {
			bp.mu.Lock()
			bp.stored += step.Stored
			bp.mu.Unlock()
		}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { node.Close() })
	bp.node = node
	return bp
}

// BenchmarkCarriedDelivery (issue 17): an author has 10,000 posts waiting for its
// friends. One reader pulls them from the author (direct), another, in the
// same run, only from a carrier that took the author's sealed parcels. Reported: posts
// per second and the time from the reader coming online (its sync starting, connection
// included) to the last post in its timeline, each way, and carried/direct as ratios.
// The direct reader's figure stops when the author's feed is stored; reading the author's
// parcel log afterwards (which a direct reader also does, for what it carries) is
// reported apart as direct_parcel_overhead_ms.
func BenchmarkCarriedDelivery(b *testing.B) {
	const n = 10_000
	for range b.N {
		b.StopTimer()
		author, carrier := newBenchPeer(b, "author").peer, newBenchPeer(b, "carrier").peer
		direct, carried := newBenchPeer(b, "direct"), newBenchPeer(b, "carried")
		for _, p := range []*peer{carrier, direct.peer, carried.peer} {
			link(b, author, p)
		}
		link(b, carrier, carried.peer)
		nps := make([]store.NewPost, n)
		for i := range nps {
			nps[i] = store.NewPost{Text: fmt.Sprintf("post %d of the carried benchmark #bench", i)}
		}
		if _, err := author.st.PublishMany(nps); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		syncB(ctx, b, carrier, author) // seals the author's parcels and carries them
		b.StartTimer()

		f, _ := direct.st.Friend(author.pub())
		start := time.Now()
		var directDone time.Duration
		stop := make(chan struct{})
		go func() {
			for {
				direct.mu.Lock()
				got := direct.stored
				direct.mu.Unlock()
				if got >= n {
					directDone = time.Since(start)
					close(stop)
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
		if _, err := direct.node.Sync(ctx, f); err != nil {
			b.Fatal(err)
		}
		directAll := time.Since(start)
		<-stop

		f, _ = carried.st.Friend(carrier.pub())
		start = time.Now()
		res, err := carried.node.Sync(ctx, f)
		carriedDone := time.Since(start)
		cancel()
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if got := countB(b, carried.peer, author); got != n || res.Carry == nil || res.Carry.Stored[author.pub()] != n {
			b.Fatalf("the carried reader holds %d of %d posts", got, n)
		}
		if got := countB(b, direct.peer, author); got != n {
			b.Fatalf("the direct reader holds %d of %d posts", got, n)
		}
		b.ReportMetric(float64(n)/directDone.Seconds(), "direct_posts/s")
		b.ReportMetric(float64(n)/carriedDone.Seconds(), "carried_posts/s")
		b.ReportMetric(float64(directDone.Milliseconds()), "direct_online_to_timeline_ms")
		b.ReportMetric(float64(carriedDone.Milliseconds()), "carried_online_to_timeline_ms")
		b.ReportMetric(directDone.Seconds()/carriedDone.Seconds(), "carried/direct_posts/s_ratio")
		b.ReportMetric(carriedDone.Seconds()/directDone.Seconds(), "carried/direct_time_ratio")
		b.ReportMetric(float64((directAll - directDone).Milliseconds()), "direct_parcel_overhead_ms")
		b.StartTimer()
	}
}

// link makes a and b friends of each other.
func link(b *testing.B, x, y *peer) {
	b.Helper()
	for _, pr := range [][2]*peer{{x, y}, {y, x}} {
		if err := pr[0].st.PutFriend(store.Friend{Key: pr[1].pub(), Name: pr[1].name, Addr: pr[1].node.Addr().String()}); err != nil {
			b.Fatal(err)
		}
	}
}

// syncB makes p pull from friend once.
func syncB(ctx context.Context, b *testing.B, p, friend *peer) syncer.Result {
	b.Helper()
	f, err := p.st.Friend(friend.pub())
	if err != nil {
		b.Fatal(err)
	}
	res, err := p.node.Sync(ctx, f)
	if err != nil {
		b.Fatalf("%s syncing from %s: %v", p.name, friend.name, err)
	}
	return res
}

func countB(b *testing.B, p, author *peer) int {
	b.Helper()
	n, err := p.st.CountPosts(author.pub())
	if err != nil {
		b.Fatal(err)
	}
	return n
}
