package main

import (
	"net"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/daemon"
	"github.com/kithnet/kith/peer/store"
)

// A running `kith daemon` pulls a friend's new post within a second. The author runs in
// this test process (its posts are written straight into its store while it serves), the
// reader is a real daemon process befriended through the CLI.
func TestDaemonPullsLiveWithinASecond(t *testing.T) {
	author, authorID := newHome(t, "author")
	reader, readerID := newHome(t, "reader")
	st := openStore(t, author)
	if err := st.PutFriend(store.Friend{Key: mustParseID(t, readerID)}); err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	node, err := daemon.Start(daemon.Config{Store: st, PacketConn: pc, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	f, err := startFollower(reader, "--log-level", "debug")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.stop() })
	waitSocket(t, reader)
	kith(t, reader, "friend", "add", authorID, "--addr", pc.LocalAddr().String())
	if _, err := f.waitFor(20*time.Second, "pull step"); err != nil {
		t.Fatal(err) // the first pull, with nothing to fetch
	}
	for i := range 3 {
		time.Sleep(300 * time.Millisecond)
		start := time.Now()
		if _, err := st.Publish(store.NewPost{Text: "live"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.waitFor(time.Second, "pull step", "stored=1 "); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
		t.Logf("post %d stored by the reader process %v after publishing", i, time.Since(start).Round(time.Millisecond))
	}
}
