package public_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
	"github.com/kithnet/kith/shared/identity"
)

// benchPosts is the size of the node the benchmark serves.
const benchPosts = 10000

// benchWindow is how long each figure is measured, in benchRounds slices that alternate
// between the two servers so that a change in the machine's load hits both alike. The
// benchmark measures for itself, so `-benchtime 1x` (make bench) gives the same figures
// as a longer run.
const (
	benchWindow = time.Second
	benchRounds = 4
)

// BenchmarkPublicHTTP measures requests/s for / and /feed.atom of a node with 10k public
// posts, beside net/http.FileServer serving the same bytes pre-rendered from a temp dir,
// both over loopback HTTP in the same run, and reports the ratio.
func BenchmarkPublicHTTP(b *testing.B) {
	key, err := identity.Generate(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	src := publictest.NewMemory(key.Public())
	for i := range benchPosts {
		put(b, src, key, publictest.NewPayload(fmt.Sprintf("post number %d of the benchmark, with some words #bench #tag%d", i, i%50), publictest.Public, t0+int64(i)*1000))
	}
	h := public.Handler(public.Config{Source: src, BaseURL: "https://bench.example", RatePerSecond: -1, Logger: discardLogger()})
	dir := b.TempDir()
	for path, file := range map[string]string{"/": "index.html", "/feed.atom": "feed.atom"} {
		a := do(b, h, http.MethodGet, path)
		if a.Status != http.StatusOK {
			b.Fatalf("GET %s: %d", path, a.Status)
		}
		if err := os.WriteFile(filepath.Join(dir, file), []byte(a.Body), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	kith := httptest.NewServer(h)
	defer kith.Close()
	files := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer files.Close()

	for _, path := range []string{"/", "/feed.atom"} {
		var gotN, baseN int64
		var gotT, baseT time.Duration
		for range benchRounds {
			n, d := requests(b, kith.URL+path, benchWindow/benchRounds)
			gotN, gotT = gotN+n, gotT+d
			n, d = requests(b, files.URL+path, benchWindow/benchRounds)
			baseN, baseT = baseN+n, baseT+d
		}
		got, base := float64(gotN)/gotT.Seconds(), float64(baseN)/baseT.Seconds()
		name := map[string]string{"/": "index", "/feed.atom": "atom"}[path]
		b.ReportMetric(got, name+"_req/s")
		b.ReportMetric(base, name+"_fileserver_req/s")
		b.ReportMetric(got/base, name+"_ratio")
		fmt.Printf("public http %-10s %8.0f req/s; net/http.FileServer, same bytes: %8.0f req/s; ratio %.2f\n", path, got, base, got/base)
	}
}

// requests GETs url from 2*GOMAXPROCS keep-alive clients for window, and returns how
// many answers came and in how long.
func requests(b *testing.B, url string, window time.Duration) (int64, time.Duration) {
	b.Helper()
	workers := 2 * runtime.GOMAXPROCS(0)
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	var n atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				res, err := client.Get(url)
				if err != nil {
					failed.Store(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					failed.Store(fmt.Errorf("GET %s: %s", url, res.Status))
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	return n.Load(), time.Since(start)
}
