package public_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
)

func TestRefusals(t *testing.T) {
	f := newFixture(t, public.Config{})
	long := strings.Repeat("a", 300)
	for _, tc := range []struct {
		method, target string
		want           int
	}{
		{"GET", "/blob/../x", 400},
		{"GET", "/blob/%2e%2e/x", 400},
		{"GET", "/blob/..%2fetc%2fpasswd", 400},
		{"GET", "/blob/%252e%252e/x", 400},
		{"GET", "/p/..%5c..%5cx", 400},
		{"GET", "/p/./" + publictest.ID(f.pubA), 400},
		{"GET", "//p/" + publictest.ID(f.pubA), 400},
		{"GET", "/blob/abc%00", 400},
		{"GET", "/p/xyz", 400},
		{"GET", "/p/" + strings.ToUpper(publictest.ID(f.pubA)), 400},
		{"GET", "/p/" + publictest.ID(f.pubA) + "00", 400},
		{"GET", "/p/", 400},
		{"GET", "/p/" + publictest.ID(f.pubA) + ".xml", 400},
		{"GET", "/blob/1234", 400},
		{"GET", "/tags/a-b", 400},
		{"GET", "/tags/%23kith", 400},
		{"GET", "/tags/", 400},
		{"GET", "/tags/" + strings.Repeat("x", 65), 400},
		{"GET", "/?after=" + long, 414},
		{"GET", "/?q=" + long, 414},
		{"GET", "/" + strings.Repeat("p", 600), 414},
		{"GET", "/?after=bad!cursor", 400},
		{"GET", "/?after=00000000000000000000000000000000", 400},
		{"GET", "/?after=a&after=b", 400},
		{"GET", "/nothing", 404},
		{"GET", "/index.html", 404},
		{"POST", "/", 405},
		{"PUT", "/p/" + publictest.ID(f.pubA), 405},
		{"DELETE", "/blob/x", 405},
		{"OPTIONS", "/", 405},
		{"GET", "/tags/Kith", 301},
	} {
		a := do(t, f.h, tc.method, tc.target)
		if a.Status != tc.want {
			t.Errorf("%s %s: status %d, want %d (%s)", tc.method, tc.target, a.Status, tc.want, a.Body)
		}
		if tc.want == 405 && a.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q", tc.method, tc.target, a.Header.Get("Allow"))
		}
		if tc.want == 301 && a.Header.Get("Location") != "/tags/kith" {
			t.Errorf("%s %s: Location %q, want /tags/kith", tc.method, tc.target, a.Header.Get("Location"))
		}
		for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"} {
			if a.Header.Get(h) == "" {
				t.Errorf("%s %s: no %s header", tc.method, tc.target, h)
			}
		}
	}
}

func TestRateLimit(t *testing.T) {
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	f := newFixture(t, public.Config{RatePerSecond: 1, RateBurst: 3, Clock: func() time.Time { return now }})
	for range 3 {
		f.get(t, "/robots.txt", 200)
	}
	a := f.get(t, "/robots.txt", http.StatusTooManyRequests)
	if a.Header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q, want 1", a.Header.Get("Retry-After"))
	}
	other := doFrom(t, f.h, "198.51.100.7:999", "/robots.txt")
	if other != http.StatusOK {
		t.Errorf("another address got %d: the limit is per address", other)
	}
	if got := doFrom(t, f.h, "[2001:db8::1]:1", "/robots.txt"); got != 200 {
		t.Fatalf("IPv6 first request: %d", got)
	}
	for range 2 {
		doFrom(t, f.h, "[2001:db8::2]:1", "/robots.txt")
	}
	if got := doFrom(t, f.h, "[2001:db8::3]:1", "/robots.txt"); got != http.StatusTooManyRequests {
		t.Errorf("fourth request from one IPv6 /64: %d, want 429 (the /64 shares a bucket)", got)
	}
	now = now.Add(1100 * time.Millisecond)
	f.get(t, "/robots.txt", 200)
	f.get(t, "/robots.txt", http.StatusTooManyRequests)
}

func doFrom(t *testing.T, h http.Handler, remote, target string) int {
	t.Helper()
	r := newRequest("GET", target)
	r.RemoteAddr = remote
	w := newRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

func TestNoIndex(t *testing.T) {
	for _, noindex := range []bool{false, true} {
		f := newFixture(t, public.Config{NoIndex: noindex})
		robots := f.get(t, "/robots.txt", 200).Body
		if !strings.Contains(robots, "Allow: /") || strings.Contains(robots, "Disallow") {
			t.Errorf("noindex=%v: robots.txt must allow crawling:\n%s", noindex, robots)
		}
		if got := strings.Contains(robots, "Sitemap: https://alice.example/sitemap.xml"); got == noindex {
			t.Errorf("noindex=%v: Sitemap line present=%v", noindex, got)
		}
		for _, path := range []string{"/", "/p/" + publictest.ID(f.pubA), "/feed.atom", "/blob/x"} {
			a := do(t, f.h, "GET", path)
			if got := a.Header.Get("X-Robots-Tag") == "noindex"; got != noindex {
				t.Errorf("noindex=%v: %s X-Robots-Tag %q", noindex, path, a.Header.Get("X-Robots-Tag"))
			}
			if strings.HasPrefix(a.Header.Get("Content-Type"), "text/html") {
				if got := strings.Contains(a.Body, `<meta name="robots" content="noindex">`); got != noindex {
					t.Errorf("noindex=%v: %s robots meta present=%v", noindex, path, got)
				}
			}
		}
	}
}
