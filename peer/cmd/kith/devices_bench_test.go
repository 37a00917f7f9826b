package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/store"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
)

// seedPhotos adds n posts to home, photos of them carrying one photo of size bytes each.
func seedPhotos(b *testing.B, home string, n, photos, size int) {
	b.Helper()
	st, err := store.Open(store.Config{Home: home, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	text := strings.Repeat("k", 1024)
	batch := make([]store.NewPost, 0, 1000)
	photo := make([]byte, size)
	for i := 0; i < n; i++ {
		np := store.NewPost{Text: text}
		if i < photos {
			rand.Read(photo)
			a, err := st.PutBlob(bytes.NewReader(photo))
			if err != nil {
				b.Fatal(err)
			}
			a.MediaType = "image/jpeg"
			np.Attachments = []*postv1.Attachment{a}
		}
		if batch = append(batch, np); len(batch) == cap(batch) || i == n-1 {
			if _, err := st.PublishMany(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// BenchmarkJoin measures a new device joining (`kith device add` / `kith init --join`,
// direct mode, real processes) a home of 10k posts with 1k photos of 64 KiB, until it
// holds all of it, beside a plain `kith export` + `kith import` of the same home in the
// same run, and reports the ratio join / (export + import).
func BenchmarkJoin(b *testing.B) {
	const posts, photos, photoSize = 10000, 1000, 64 << 10
	home, _ := newHomeB(b, "alice")
	seedPhotos(b, home, posts, photos, photoSize)
	addr := freeAddrB(b)
	d := startDaemonB(b, home, addr)
	defer stopB(d)
	var join, backup time.Duration
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		// Baseline: export, then import into a new home.
		start := time.Now()
		out := filepath.Join(dir, "alice.kith")
		cmd := exec.Command(kithBin, "--home", home, "export", "--out", out)
		cmd.Env = append(os.Environ(), "KITH_PASSPHRASE=copper lantern drifts sideways")
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("export: %v\n%s", err, o)
		}
		cmd = exec.Command(kithBin, "--home", filepath.Join(dir, "imported"), "import", out)
		cmd.Env = append(os.Environ(), "KITH_PASSPHRASE=copper lantern drifts sideways")
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("import: %v\n%s", err, o)
		}
		backup += time.Since(start)

		// A new device joins and holds everything.
		add := exec.Command(kithBin, "--home", home, "device", "add", "laptop"+strings.Repeat("x", i))
		stdout, err := add.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := add.Start(); err != nil {
			b.Fatal(err)
		}
		code, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		runB(b, "--home", filepath.Join(dir, "laptop"), "init", "--join", strings.TrimSpace(code), "--addr", addr)
		join += time.Since(start)
		add.Wait()
		st, err := store.Open(store.Config{Home: filepath.Join(dir, "laptop"), Logger: quiet()})
		if err != nil {
			b.Fatal(err)
		}
		self, _ := st.Self()
		n, err := st.CountPosts(self)
		st.Close()
		if err != nil || n != posts {
			b.Fatalf("the joined device holds %d posts (%v), want %d", n, err, posts)
		}
		blobs, _ := os.ReadDir(filepath.Join(dir, "laptop", "blobs"))
		if len(blobs) < photos {
			b.Fatalf("the joined device holds %d blobs, want %d", len(blobs), photos)
		}
	}
	b.ReportMetric(join.Seconds()/float64(b.N), "join-s")
	b.ReportMetric(backup.Seconds()/float64(b.N), "export+import-s")
	b.ReportMetric(join.Seconds()/backup.Seconds(), "join/backup")
}
