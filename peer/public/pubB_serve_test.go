package public_test

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
)

// TestServePlainHTTP: Serve without a certificate or key listens on addr, answers, and
// returns nil once ctx is done; an address it cannot listen on is an error at once.
func TestServePlainHTTP(t *testing.T) {
	f := newFixture(t, public.Config{})
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	if err := public.Serve(context.Background(), addr, "", "", f.h); err == nil || !strings.Contains(err.Error(), "listen on") {
		t.Errorf("Serve on an address in use: %v, want a listen error", err)
	}
	probe.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- public.Serve(ctx, addr, "", "", f.h) }()
	var res *http.Response
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(20 * time.Millisecond) {
		if res, err = http.Get("http://" + addr + "/robots.txt"); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Serve without TLS returned at once: %v", err)
		default:
		}
	}
	if err != nil {
		t.Fatalf("GET over plain HTTP: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET /robots.txt: %d", res.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: %v, want nil", err)
		}
	case <-time.After(public.ShutdownGrace + time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

// TestServeListenerReportsBadCertificate: a certificate that cannot be loaded is an
// error, even when ctx is done by the time it shows: it is no shutdown ctx asked for. The listener is closed
// either way.
func TestServeListenerReportsBadCertificate(t *testing.T) {
	f := newFixture(t, public.Config{})
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for range 5 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := public.ServeListener(ctx, ln, public.NewServer("", f.h), missing, missing); err == nil {
			t.Fatal("ServeListener with a missing certificate returned nil")
		}
		if ln.Close() == nil {
			t.Error("ServeListener left its listener open")
		}
	}
}

// pagingSource lists the same public post forever, MaxPageSize at a time, counting the
// pages asked for.
type pagingSource struct {
	*publictest.Memory
	post  public.Post
	calls *int
}

func (s pagingSource) PublicPosts(_ context.Context, q public.Query) (public.Page, error) {
	*s.calls++
	n, _ := strconv.Atoi(q.After)
	page := public.Page{Next: strconv.Itoa(n + 1)}
	for range q.Limit {
		page.Posts = append(page.Posts, s.post)
	}
	return page, nil
}

// TestSitemapStopsAtItsLimit: the sitemap reads the Source only until it has the
// 50,000 URLs one sitemap may list, and lists no more.
func TestSitemapStopsAtItsLimit(t *testing.T) {
	f := newFixture(t, public.Config{})
	calls := 0
	h := liarHandler(t, pagingSource{Memory: f.src, post: f.latest[public.PostID(f.pubA.GetId())], calls: &calls}, public.Config{})
	a := do(t, h, http.MethodGet, "/sitemap.xml")
	if a.Status != http.StatusOK {
		t.Fatalf("sitemap: %d", a.Status)
	}
	if want := 50000 / public.MaxPageSize; calls != want {
		t.Errorf("sitemap read %d pages of %d posts, want %d", calls, public.MaxPageSize, want)
	}
	if n := strings.Count(a.Body, "<url>"); n != 50000 {
		t.Errorf("sitemap lists %d URLs, want 50000", n)
	}
}
