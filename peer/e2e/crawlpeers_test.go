package e2e

import (
	"context"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/kithnet/kith/peer/crawl/crawltest"
	"github.com/kithnet/kith/peer/discovery"
	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/store"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
)

// startPeer runs an in-process peer (crawltest) for the script's lifetime, with one
// public post of text, and sets $idVar to its ID.
func startPeer(ts *testscript.TestScript, idVar, text string, tamper bool) *crawltest.Peer {
	p, err := crawltest.Start(crawltest.Config{Home: ts.MkAbs(idVar + ".home"), Tamper: tamper})
	ts.Check(err)
	ts.Defer(func() { p.Close() })
	_, err = p.Store.Publish(store.NewPost{Text: text, Audience: feed.Audience{Public: true}})
	ts.Check(err)
	ts.Setenv(idVar, string(p.Key.ID()))
	return p
}

// tamperpeer IDVAR ADDRVAR TEXT: run, inside the test process, a kith peer that serves
// one public post with TEXT whose signature does not verify (a bit of it flipped on the
// way out); set $IDVAR to its ID and $ADDRVAR to its UDP address.
func cmdTamperPeer(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: tamperpeer IDVAR ADDRVAR TEXT")
	}
	p := startPeer(ts, args[0], args[2], true)
	ts.Setenv(args[1], p.Addr.String())
}

// rdvpeer IDVAR RENDEZVOUS TEXT: run, inside the test process, an honest kith peer with
// one public post of TEXT that registers its address with the rendezvous at RENDEZVOUS
// (host:port), and wait (10 s at most) until it is registered. For crawls through a
// rendezvous while the daemon's own rendezvous mode is not in this build.
func cmdRdvPeer(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: rdvpeer IDVAR RENDEZVOUS TEXT")
	}
	p := startPeer(ts, args[0], args[2], false)
	c, err := discovery.New(discovery.Config{Key: p.Key, Servers: []string{args[1]}, MinBackoff: 100 * time.Millisecond,
		Candidates: func() []*rendezvousv1.Candidate {
			return []*rendezvousv1.Candidate{{Address: p.Addr.String(), Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_HOST}}
		}})
	ts.Check(err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	ts.Defer(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); !c.Status().Registered; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			ts.Fatalf("rdvpeer: not registered with %s after 10s", args[1])
		}
	}
}
