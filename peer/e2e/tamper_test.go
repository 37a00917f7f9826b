package e2e

import (
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/kithnet/kith/peer/crawl/crawltest"
	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/store"
)

// tamperpeer IDVAR ADDRVAR TEXT: run, inside the test process, a kith peer that serves
// one public post with TEXT whose signature does not verify (a bit of it flipped on the
// way out); set $IDVAR to its ID and $ADDRVAR to its UDP address.
func cmdTamperPeer(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: tamperpeer IDVAR ADDRVAR TEXT")
	}
	p, err := crawltest.Start(crawltest.Config{Home: ts.MkAbs(args[0] + ".home"), Tamper: true})
	ts.Check(err)
	ts.Defer(func() { p.Close() })
	_, err = p.Store.Publish(store.NewPost{Text: args[2], Audience: feed.Audience{Public: true}})
	ts.Check(err)
	ts.Setenv(args[0], string(p.Key.ID()))
	ts.Setenv(args[1], p.Addr.String())
}
