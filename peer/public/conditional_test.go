package public_test

import (
	"encoding/hex"
	"net/http"
	"testing"

	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
)

// TestConditionalRequests: every page and feed has an ETag and a Last-Modified, and
// answers 304 to either validator.
func TestConditionalRequests(t *testing.T) {
	f := newFixture(t, public.Config{})
	for _, path := range []string{"/", "/?after=" + publictest.ID(f.pubB), "/tags/kith", "/p/" + publictest.ID(f.pubA), "/p/" + publictest.ID(f.pubA) + ".json",
		"/feed.atom", "/feed.json", "/sitemap.xml", "/robots.txt", "/blob/" + hex.EncodeToString(f.blobPub[:])} {
		a := f.get(t, path, http.StatusOK)
		etag, lm := a.Header.Get("ETag"), a.Header.Get("Last-Modified")
		if etag == "" || lm == "" {
			t.Errorf("%s: ETag %q, Last-Modified %q; want both", path, etag, lm)
			continue
		}
		if b := f.get(t, path, http.StatusNotModified, "If-None-Match", etag); b.Body != "" {
			t.Errorf("%s: 304 with a body", path)
		}
		f.get(t, path, http.StatusNotModified, "If-Modified-Since", lm)
		f.get(t, path, http.StatusOK, "If-None-Match", `"other"`)
		if h := do(t, f.h, http.MethodHead, path); h.Status != http.StatusOK || h.Body != "" || h.Header.Get("Content-Length") != a.Header.Get("Content-Length") {
			t.Errorf("HEAD %s: status %d, body %d bytes, length %q; want 200, no body, length %q",
				path, h.Status, len(h.Body), h.Header.Get("Content-Length"), a.Header.Get("Content-Length"))
		}
	}
}
