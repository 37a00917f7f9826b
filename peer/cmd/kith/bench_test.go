package main

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/peer/daemon"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/shared/identity"
)

// baselines measures, in this run, raw ed25519 verifications/s of 1 KiB messages and raw
// bbolt inserts/s of 1 KiB values committed (fsynced) in batches of 500, as a sync step does.
func baselines(b *testing.B) (verifyPerSec, insertPerSec float64) {
	b.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, 1024)
	sig := ed25519.Sign(priv, msg)
	const nv = 20000
	start := time.Now()
	for range nv {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify failed")
		}
	}
	verifyPerSec = nv / time.Since(start).Seconds()

	db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const ni, batch = 50000, 500
	val := make([]byte, 1024)
	start = time.Now()
	for i := 0; i < ni; i += batch {
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for range batch {
				key := make([]byte, 48)
				rand.Read(key)
				if err := bk.Put(key, val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	insertPerSec = ni / time.Since(start).Seconds()
	return
}

// seedHomes makes an author home with n posts of 1 KiB for the puller home's key, and
// returns the last sequence number of the puller's view of the author's feed.
func seedHomes(b *testing.B, n int) (author, authorID, puller string, last uint64) {
	b.Helper()
	author, authorID = newHomeB(b, "author")
	puller, pullerID := newHomeB(b, "puller")
	st, err := store.Open(store.Config{Home: author, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	k, err := identity.ParseID(pullerID)
	if err != nil {
		b.Fatal(err)
	}
	if err := st.PutFriend(store.Friend{Key: k}); err != nil {
		b.Fatal(err)
	}
	text := strings.Repeat("k", 1024)
	for done := 0; done < n; {
		batch := make([]store.NewPost, min(5000, n-done))
		for i := range batch {
			batch[i] = store.NewPost{Text: text}
		}
		if _, err := st.PublishMany(batch); err != nil {
			b.Fatal(err)
		}
		done += len(batch)
	}
	last, err = st.LastSeqFor(k) // the puller's own view of the feed
	if err != nil {
		b.Fatal(err)
	}
	return author, authorID, puller, last
}

func newHomeB(b *testing.B, name string) (string, string) {
	home := filepath.Join(b.TempDir(), name)
	out, err := exec.Command(kithBin, "--home", home, "init", "--name", name).Output()
	if err != nil {
		b.Fatal(err)
	}
	return home, strings.TrimSpace(string(out))
}

func runB(b *testing.B, args ...string) {
	b.Helper()
	if out, err := exec.Command(kithBin, args...).CombinedOutput(); err != nil {
		b.Fatalf("kith %v: %v\n%s", args, err, out)
	}
}

// BenchmarkSync measures initial sync of 10k and 100k posts and incremental sync with 1k
// and 100k posts of history, between real processes, beside baselines of the same run.
func BenchmarkSync(b *testing.B) {
	// The machine is shared: measure the baselines before and after the syncs, and compare
	// with the better of each (the least flattering ratio for the sync).
	v1, i1 := baselines(b)
	type initial struct {
		n              int
		rate           float64
		took           time.Duration
		author, puller memory
	}
	var inits []initial
	var incs []string
	for _, n := range []int{1000, 10000, 100000} {
		author, authorID, puller, last := seedHomes(b, n)
		addr := freeAddrB(b)
		d := startDaemonB(b, author, addr)
		f, err := startFollower(puller, "--log-level", "debug")
		if err != nil {
			b.Fatal(err)
		}
		waitSocket(b, puller)
		start := time.Now()
		runB(b, "--home", puller, "friend", "add", authorID, "--addr", addr)
		if _, err := f.waitFor(10*time.Minute, "pull step", fmt.Sprintf("cursor=%d ", last)); err != nil {
			f.stop()
			b.Fatal(err)
		}
		el := time.Since(start)
		pm := f.stop()
		am := stopB(d)
		if n >= 10000 {
			inits = append(inits, initial{n, float64(n) / el.Seconds(), el, am, pm})
			b.ReportMetric(float64(n)/el.Seconds(), fmt.Sprintf("posts/s-%dk", n/1000))
		}
		if n == 1000 || n == 100000 {
			lat := incremental(b, author, puller, addr)
			incs = append(incs, fmt.Sprintf("incremental sync of 1 new post with %6d posts of history: median %v (min %v, max %v), publish -> stored by the following puller process",
				n, lat[len(lat)/2].Round(time.Microsecond), lat[0].Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond)))
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), fmt.Sprintf("us/incremental-%dk", n/1000))
		}
	}
	v2, i2 := baselines(b)
	verify, insert := max(v1, v2), max(i1, i2)
	fmt.Printf("baseline: raw ed25519 verifications/s %.0f (before) %.0f (after); raw bbolt batched inserts/s (1 KiB, 500 per fsynced tx) %.0f (before) %.0f (after)\n", v1, v2, i1, i2)
	for _, r := range inits {
		fmt.Printf("initial sync %6d posts (1 KiB text): %6.0f posts/s in %v = %.2f x ed25519 verify/s, %.2f x bbolt inserts/s\n  peak RSS author %v\n  peak RSS puller %v\n",
			r.n, r.rate, r.took.Round(time.Millisecond), r.rate/verify, r.rate/insert, r.author, r.puller)
	}
	for _, l := range incs {
		fmt.Println(l)
	}
}

// incremental serves author in this process, runs the puller as a following daemon
// process, publishes one post at a time and times until the puller logs it stored.
func incremental(b *testing.B, author, puller, addr string) []time.Duration {
	b.Helper()
	st, err := store.Open(store.Config{Home: author, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	node, err := daemon.Start(daemon.Config{Store: st, PacketConn: pc, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer node.Close()
	cmd := exec.Command(kithBin, "--home", puller, "daemon", "--listen", "127.0.0.1:0", "--log-level", "debug")
	stderr, _ := cmd.StderrPipe()
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "pull step") {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	wait := func(stored bool) {
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					b.Fatal("puller exited")
				}
				if !stored || strings.Contains(l, "stored=1 ") {
					return
				}
			case <-time.After(30 * time.Second):
				b.Fatal("no pull step in 30s")
			}
		}
	}
	wait(false) // the initial pull, with nothing new
	var lat []time.Duration
	for range 7 {
		time.Sleep(300 * time.Millisecond)
		start := time.Now()
		if _, err := st.Publish(store.NewPost{Text: strings.Repeat("n", 1024)}); err != nil {
			b.Fatal(err)
		}
		wait(true)
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	return lat
}

type procB struct{ cmd *exec.Cmd }

func startDaemonB(b *testing.B, home, addr string) *procB {
	cmd := exec.Command(kithBin, "--home", home, "daemon", "--listen", addr)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	waitSocket(b, home)
	return &procB{cmd}
}

// stopB reads the daemon's memory, then stops it.
func stopB(p *procB) memory {
	m := readMemory(p.cmd.Process.Pid)
	p.cmd.Process.Signal(os.Interrupt)
	p.cmd.Wait()
	return m
}

func freeAddrB(b *testing.B) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}
