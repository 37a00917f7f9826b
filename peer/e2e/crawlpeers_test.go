package e2e

import (
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/kithnet/kith/peer/crawl/crawltest"
	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/store"
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
