package ui_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/kithnet/kith/peer/store"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
)

// BenchmarkTimeline1000 loads a timeline of 1,000 posts, 200 of them with a photo, from
// the daemon's web app in Chromium, and the same page saved as a static file and served
// by a plain file server in the same run: time to first contentful paint, time to the
// load event, and bytes transferred, each beside the static baseline.
func BenchmarkTimeline1000(b *testing.B) {
	bctx := browser(b)
	n := newHome(b, "Ann")
	blobs := seedTimeline(b, n.home, 1000, 200)
	n.start(b)

	live := tab(b, bctx)
	if err := chromedp.Do(live, chromedp.Navigate(n.loginURL(b)), chromedp.WaitVisible(chromedp.CSS("#compose"))); err != nil {
		b.Fatal(err)
	}
	html, err := chromedp.Run(live, chromedp.Evaluate[string](`fetch("/").then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.Fatal(err)
	}
	static := httptest.NewServer(staticCopy(html, blobs))
	defer static.Close()

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		app := measure(b, live, n.url)
		file := measure(b, tab(b, bctx), static.URL+"/")
		b.ReportMetric(app.fcp, "ms-first-paint")
		b.ReportMetric(app.bytes, "bytes")
		fmt.Printf("timeline of 1000 posts (200 photos), Chromium, cold cache:\n"+
			"  web app:     first paint %6.0f ms  load %6.0f ms  %8.0f bytes (%d requests)\n"+
			"  static file: first paint %6.0f ms  load %6.0f ms  %8.0f bytes (%d requests)\n"+
			"  ratio app/static: first paint %.2f  load %.2f  bytes %.2f\n",
			app.fcp, app.load, app.bytes, app.requests, file.fcp, file.load, file.bytes, file.requests,
			app.fcp/file.fcp, app.load/file.load, app.bytes/file.bytes)
	}
}

type pageLoad struct {
	fcp, load, bytes float64
	requests         int
}

// measure navigates a tab to url with its cache disabled and reads the browser's own
// timings: first contentful paint, the load event, and the bytes of the document and
// every resource.
func measure(b *testing.B, tab context.Context, url string) pageLoad {
	b.Helper()
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	noCache := func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
			return chromedp.Void{}, err
		}
		_, err := cdp.Call(ctx, t, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true})
		return chromedp.Void{}, err
	}
	if err := chromedp.Do(ctx, noCache, chromedp.Navigate("about:blank"), chromedp.Navigate(url)); err != nil {
		b.Fatal(err)
	}
	if err := waitFor(ctx, func() (bool, error) {
		return chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && performance.getEntriesByName("first-contentful-paint").length > 0`))
	}); err != nil {
		b.Fatalf("load %s: %v", url, err)
	}
	time.Sleep(200 * time.Millisecond) // late lazy images in the first screen
	r, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
		FCP, Load, Bytes float64
		Requests         int
	}](`(() => {
		const nav = performance.getEntriesByType("navigation")[0];
		const res = performance.getEntriesByType("resource");
		return {FCP: performance.getEntriesByName("first-contentful-paint")[0].startTime,
			Load: nav.loadEventEnd, Requests: res.length + 1,
			Bytes: res.reduce((s, e) => s + e.transferSize, nav.transferSize)};
	})()`))
	if err != nil {
		b.Fatal(err)
	}
	return pageLoad{fcp: r.FCP, load: r.Load, bytes: r.Bytes, requests: r.Requests}
}

// staticCopy serves the saved timeline page, the app's static files and the photos from
// plain files: the baseline a web app cannot beat.
func staticCopy(page string, blobs map[string]string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(page))
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(os.DirFS("static"))))
	// The benchmark's photos are smaller than a thumbnail, so the app serves the originals
	// as thumbnails too.
	photo := func(w http.ResponseWriter, r *http.Request) {
		p, ok := blobs[r.PathValue("sha")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, p)
	}
	mux.HandleFunc("GET /blob/{sha}", photo)
	mux.HandleFunc("GET /thumb/{sha}", photo)
	return mux
}

// seedTimeline publishes n own posts into a stopped home's store, photos of them with a
// distinct PNG each, and returns the photos' files by SHA-256.
func seedTimeline(b testing.TB, home string, n, photos int) map[string]string {
	b.Helper()
	st, err := store.Open(store.Config{Home: home, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	dir := b.TempDir()
	files := map[string]string{}
	batch := make([]store.NewPost, n)
	for i := range batch {
		batch[i].Text = fmt.Sprintf("Post %d of the benchmark: %s #bench", i, strings.Repeat("words of a post ", 8))
		if i%(n/photos) != 0 {
			continue
		}
		p := writePhoto(b, dir, fmt.Sprintf("photo-%d.png", i), 320+i%50, 240)
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		att, err := st.PutBlob(f)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		att.FileName, att.MediaType = fmt.Sprintf("photo-%d.png", i), "image/png"
		files[fmt.Sprintf("%x", att.GetSha256())] = p
		batch[i].Attachments = []*postv1.Attachment{att}
	}
	if _, err := st.PublishMany(batch); err != nil {
		b.Fatal(err)
	}
	return files
}
