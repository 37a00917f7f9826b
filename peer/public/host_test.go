package public_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
)

// Issue 13 item 9: a forged Host header never reaches a link. With a public URL every
// absolute link uses it; without one, links are relative, pages carry no canonical or
// og:url, and the sitemap (absolute by nature) is refused.
func TestForgedHostNeverEchoed(t *testing.T) {
	f := newFixture(t, public.Config{})
	noBase, err := public.NewHandler(public.Config{Source: f.src, RatePerSecond: -1, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	pub := "/p/" + publictest.ID(f.pubA)
	paths := []string{"/", pub, pub + ".json", "/tags/kith", "/feed.atom", "/feed.json", "/sitemap.xml", "/robots.txt"}
	const forged = "evil.example"
	for _, tc := range []struct {
		name    string
		h       http.Handler
		want    string // must appear in the home page
		sitemap int
	}{
		{"with --public-url", f.h, `<link rel="canonical" href="https://alice.example/">`, http.StatusOK},
		{"without", noBase, `href="/feed.atom"`, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range paths {
				for _, hdr := range [][]string{{"Host", forged}, {"X-Forwarded-Host", forged}, {"Forwarded", "host=" + forged}} {
					r := newRequest(http.MethodGet, p)
					r.Host = forged
					r.Header.Set(hdr[0], hdr[1])
					r.RemoteAddr = "192.0.2.1:1234"
					w := newRecorder()
					tc.h.ServeHTTP(w, r)
					body := w.Body.String()
					if strings.Contains(body, forged) || strings.Contains(strings.Join(w.Result().Header.Values("Link"), ","), forged) {
						t.Errorf("GET %s with %s: %s: the answer echoes the forged host:\n%.400s", p, hdr[0], forged, body)
					}
					if p == "/sitemap.xml" && w.Code != tc.sitemap {
						t.Errorf("GET /sitemap.xml: %d, want %d", w.Code, tc.sitemap)
					}
				}
			}
			home := do(t, tc.h, http.MethodGet, "/", "Host", forged)
			if !strings.Contains(home.Body, tc.want) {
				t.Errorf("home page lacks %q:\n%.600s", tc.want, home.Body)
			}
		})
	}
	home := do(t, noBase, http.MethodGet, "/")
	for _, bad := range []string{`rel="canonical"`, `og:url`, `http://`, `https://`} {
		if strings.Contains(home.Body, bad) {
			t.Errorf("without a public URL the home page still has %s", bad)
		}
	}
}
