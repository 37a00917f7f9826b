package public

import (
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestHumanBytes: sizes under 1 KiB in bytes, then KiB, then MiB, switching exactly at
// 1024 and 1 MiB, with one decimal.
func TestHumanBytes(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		want string
	}{
		{0, "0 bytes"}, {1023, "1023 bytes"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{1<<20 - 1, "1024.0 KiB"}, {1 << 20, "1.0 MiB"}, {3 << 19, "1.5 MiB"}, {5 << 30, "5120.0 MiB"},
	} {
		if got := humanBytes(tc.n); got != tc.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// TestCheckPathCharacters: a path byte below 0x20 or 0x7f (control characters), '\' and
// '%' (a doubly encoded path) are refused; the printable bytes around them pass.
func TestCheckPathCharacters(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"/a b", true}, {"/a~b", true}, {"/a!b", true}, {"/a[b", true}, {"/a]b", true}, {"/a$b", true}, {"/a&b", true},
		{"/a\x1fb", false}, {"/a\x00b", false}, {"/a\x7fb", false}, {"/a\\b", false}, {"/a%b", false}, {"/a%2e%2e", false},
		{"a", false}, {"/a/./b", false}, {"/a/../b", false}, {"/a//b", false},
	} {
		if err := checkPath(tc.path, ""); (err == nil) != tc.ok {
			t.Errorf("checkPath(%q) = %v, want ok %v", tc.path, err, tc.ok)
		}
	}
}

// testServer is a server with empty caches, its templates parsed.
func testServer(t *testing.T) *server {
	t.Helper()
	pages, err := parseTemplates()
	if err != nil {
		t.Fatal(err)
	}
	return &server{pages: pages, cache: entryCache{m: map[string]template.HTML{}}, bodies: bodyCache{m: map[[32]byte]rendered{}}}
}

// TestBodyCacheBound: the body cache holds at most maxCachedBodies bodies; the one that
// would exceed it starts it afresh.
func TestBodyCacheBound(t *testing.T) {
	s := testServer(t)
	put := func(i int) {
		t.Helper()
		body := fmt.Sprintf("body %d", i)
		rd, err := s.cached(newCacheKey("test").add(body).sum(), func() ([]byte, error) { return []byte(body), nil })
		if err != nil || string(rd.body) != body {
			t.Fatalf("cached(%d) = %q, %v", i, rd.body, err)
		}
	}
	for i := range maxCachedBodies {
		put(i)
	}
	if n := len(s.bodies.m); n != maxCachedBodies {
		t.Fatalf("%d bodies cached, want all %d", n, maxCachedBodies)
	}
	put(maxCachedBodies)
	if n := len(s.bodies.m); n != 1 {
		t.Errorf("after one body more than the bound, %d cached, want 1 (a fresh cache)", n)
	}
}

// TestEntryCacheBound: the h-entry cache holds at most maxCachedEntries fragments; the
// one that would exceed it starts it afresh.
func TestEntryCacheBound(t *testing.T) {
	s := testServer(t)
	for i := range maxCachedEntries - 1 {
		s.cache.m[fmt.Sprint("filler ", i)] = ""
	}
	post := func(sig string) postView {
		return postView{ID: "00", URL: "/p/00", Text: "hello " + sig, Title: "hello", signature: sig}
	}
	out, err := s.entries([]postView{post("a")}, "")
	if err != nil || len(out) != 1 || len(s.cache.m) != maxCachedEntries {
		t.Fatalf("filling the last place: %d cached (%v), want %d", len(s.cache.m), err, maxCachedEntries)
	}
	if out, err = s.entries([]postView{post("b")}, ""); err != nil || len(s.cache.m) != 1 {
		t.Errorf("one entry past the bound: %d cached (%v), want 1 (a fresh cache)", len(s.cache.m), err)
	}
	if h := string(out[0]); h == "" || h == string(s.cache.m["\x00a"]) {
		t.Errorf("entry b rendered as %q", h)
	}
}

// TestLastModifiedNeverTheEpoch: a body whose modification time is at or before the Unix
// epoch still carries a Last-Modified (1 s after it); http.ServeContent would send none
// for the epoch itself.
func TestLastModifiedNeverTheEpoch(t *testing.T) {
	for _, tc := range []struct {
		modified time.Time
		want     string
	}{
		{time.Time{}, "Thu, 01 Jan 1970 00:00:01 GMT"},
		{time.Unix(0, 0), "Thu, 01 Jan 1970 00:00:01 GMT"},
		{time.Unix(-5, 0), "Thu, 01 Jan 1970 00:00:01 GMT"},
		{time.Unix(1, 0), "Thu, 01 Jan 1970 00:00:01 GMT"},
		{time.Unix(2, 0), "Thu, 01 Jan 1970 00:00:02 GMT"},
	} {
		w := httptest.NewRecorder()
		serveBody(w, httptest.NewRequest(http.MethodGet, "/", nil), "text/plain", tc.modified, []byte("x"))
		if got := w.Header().Get("Last-Modified"); got != tc.want {
			t.Errorf("modified %v: Last-Modified %q, want %q", tc.modified, got, tc.want)
		}
	}
}
