package crawl_test

import (
	"context"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/crawl"
	"github.com/kithnet/kith/peer/discovery"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/profile"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
)

// TestCrawlThroughLookup: a seed given by bare ID is found through a real rendezvous
// (the peer's own signed registration), its first candidate dead, its second the peer.
func TestCrawlThroughLookup(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{})
	p := startPeer(t, false)
	id := publish(t, p, "found through the rendezvous #lookup", true)
	reg, err := discovery.New(discovery.Config{Key: p.Key, Servers: []string{srv.GRPC},
		Candidates: func() []*rendezvousv1.Candidate {
			return []*rendezvousv1.Candidate{
				{Address: "127.0.0.1:9", Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_HOST},
				{Address: p.Addr.String(), Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_HOST}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); reg.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); !reg.Status().Registered; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the peer did not register with the rendezvous in 10s")
		}
	}

	ix := openIndex(t)
	key, err := ix.Key()
	if err != nil {
		t.Fatal(err)
	}
	d, err := crawl.NewDirect(key, "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.AttemptTimeout = time.Second
	finder, err := discovery.New(discovery.Config{Key: key, Servers: []string{srv.GRPC}})
	if err != nil {
		t.Fatal(err)
	}
	cr := crawl.New(crawl.Config{Index: ix, Dialer: crawl.Lookup{Direct: d, Finder: finder}, PeerInterval: -1})
	sum, err := cr.Run(context.Background(), []profile.Follow{{Key: p.Key.Public()}})
	if err != nil || sum.Visited != 1 || sum.Indexed != 1 {
		t.Fatalf("crawl through the rendezvous: %+v, %v; want the peer visited and its post indexed", sum, err)
	}
	if got := ids(search(t, ix, "#lookup")); !same(got, []post.ID{id}) {
		t.Fatalf("#lookup found %v, want [%s]", got, id)
	}
}
