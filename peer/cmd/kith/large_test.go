package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/store"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
)

// seedPosts opens a stopped home, befriends friendID and publishes n posts to friends.
func seedPosts(t *testing.T, home, friendID string, n, textSize int) {
	t.Helper()
	st := openStoreNoCleanup(t, home)
	defer st.Close()
	if err := st.PutFriend(store.Friend{Key: mustParseID(t, friendID), Name: "puller"}); err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("x", textSize)
	for done := 0; done < n; {
		batch := make([]store.NewPost, min(2000, n-done))
		for i := range batch {
			batch[i] = store.NewPost{Text: fmt.Sprintf("%d %s", done+i, text)}
		}
		if _, err := st.PublishMany(batch); err != nil {
			t.Fatal(err)
		}
		done += len(batch)
	}
}

func openStoreNoCleanup(t *testing.T, home string) *store.Store {
	t.Helper()
	st, err := store.Open(store.Config{Home: home, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSIGKILLMidSync kills the puller in the middle of a large sync, restarts it, and
// checks that every post arrived exactly once and the cursor is where the feed ends.
func TestSIGKILLMidSync(t *testing.T) {
	const n = 8000
	author, authorID := newHome(t, "author")
	puller, pullerID := newHome(t, "puller")
	seedPosts(t, author, pullerID, n, 100)
	d := startDaemon(t, author, "127.0.0.1:0")

	// The puller's daemon starts following the author the moment it is befriended.
	f, err := startFollower(puller, "--batch", "50", "--log-level", "debug")
	if err != nil {
		t.Fatal(err)
	}
	waitSocket(t, puller)
	kith(t, puller, "friend", "add", authorID, "--addr", d.addr)
	for steps := 0; steps < 5; steps++ {
		if _, err := f.waitFor(time.Minute, "pull step"); err != nil {
			f.cmd.Process.Kill()
			t.Fatalf("step %d: %v", steps, err)
		}
	}
	f.cmd.Process.Signal(syscall.SIGKILL)
	err = f.cmd.Wait()
	if ws, ok := f.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("the puller was not killed mid-sync (exit %v)", err)
	}

	st := openStoreNoCleanup(t, puller)
	partial, _ := st.CountPosts(mustParseID(t, authorID))
	st.Close()
	if partial == 0 || partial >= n {
		t.Fatalf("after SIGKILL the puller holds %d posts; want some but not all of %d", partial, n)
	}
	t.Logf("killed after %d posts of %d", partial, n)

	syncOnce(t, puller, "--batch", "100")
	syncOnce(t, puller, "--batch", "100") // a repeat changes nothing
	d.stop(t)

	ast := openStoreNoCleanup(t, author)
	last, _ := ast.LastSeqFor(mustParseID(t, pullerID)) // the end of the feed as the puller sees it
	var want []store.Stored
	ast.Posts(nil, func(p store.Stored) bool { want = append(want, p); return true })
	ast.Close()
	st = openStoreNoCleanup(t, puller)
	defer st.Close()
	a := mustParseID(t, authorID)
	if got, _ := st.CountPosts(a); got != n || len(want) != n {
		t.Fatalf("after the restart the puller holds %d posts (author has %d); want exactly %d", got, len(want), n)
	}
	for _, p := range want {
		got, err := st.Post(a, p.ID())
		if err != nil || !bytes.Equal(got.Envelope.Signature, p.Envelope.Signature) {
			t.Fatalf("post %s: %v, or not the author's exact envelope", p.ID(), err)
		}
	}
	if c, _ := st.Cursor(a); c != last {
		t.Errorf("cursor %d, want the last sequence number of the author's feed for the puller, %d", c, last)
	}
}

// TestLargeAttachmentBoundedMemory syncs a 200 MiB attachment between two processes and
// bounds the peak RSS of both.
func TestLargeAttachmentBoundedMemory(t *testing.T) {
	const size = 200 << 20
	const maxRSSKiB = 64 << 10 // a third of the attachment: memory must not follow its size
	author, authorID := newHome(t, "author")
	puller, pullerID := newHome(t, "puller")
	st := openStoreNoCleanup(t, author)
	if err := st.PutFriend(store.Friend{Key: mustParseID(t, pullerID)}); err != nil {
		t.Fatal(err)
	}
	att, err := st.PutBlob(io.LimitReader(rand.NewChaCha8([32]byte{1}), size))
	if err != nil {
		t.Fatal(err)
	}
	att.MediaType, att.FileName = "image/jpeg", "big.jpg"
	if _, err := st.Publish(store.NewPost{Text: "a big photo", Attachments: []*postv1.Attachment{att}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	d := startDaemon(t, author, "127.0.0.1:0")
	f, err := startFollower(puller, "--log-level", "debug")
	if err != nil {
		t.Fatal(err)
	}
	waitSocket(t, puller)
	start := time.Now()
	kith(t, puller, "friend", "add", authorID, "--addr", d.addr)
	if _, err := f.waitFor(time.Minute, "pull step", "stored=1 "); err != nil {
		f.stop()
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	pullerMem := f.stop()
	authorMem := readMemory(d.cmd.Process.Pid)
	d.stop(t)
	t.Logf("200 MiB attachment synced in %v; peak RSS: author %v, puller %v", elapsed.Round(time.Millisecond), authorMem, pullerMem)

	pst := openStoreNoCleanup(t, puller)
	defer pst.Close()
	bf, got, err := pst.OpenBlob(att.Sha256)
	if err != nil || got != size {
		t.Fatalf("puller's copy of the blob: %d bytes, %v; want %d", got, err, size)
	}
	bf.Close()
	for who, rss := range map[string]int64{"author": authorMem.peak, "puller": pullerMem.peak} {
		if rss <= 0 || rss > maxRSSKiB {
			t.Errorf("%s peak RSS %d KiB, want at most %d KiB", who, rss, maxRSSKiB)
		}
	}
}
