package public_test

import (
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
)

func TestBlob(t *testing.T) {
	f := newFixture(t, public.Config{})
	path := "/blob/" + hex.EncodeToString(f.blobPub[:])
	a := f.get(t, path, http.StatusOK)
	if a.Body != "\x89PNG public picture bytes" {
		t.Errorf("blob body %q", a.Body)
	}
	if ct := a.Header.Get("Content-Type"); ct != "image/png" {
		t.Errorf("Content-Type %q, want image/png", ct)
	}
	if etag := a.Header.Get("ETag"); etag != `"`+hex.EncodeToString(f.blobPub[:])+`"` {
		t.Errorf("ETag %q, want the quoted hash", etag)
	}
	r := f.get(t, path, http.StatusPartialContent, "Range", "bytes=1-3")
	if r.Body != "PNG" || r.Header.Get("Content-Range") != "bytes 1-3/25" {
		t.Errorf("Range bytes=1-3: body %q, Content-Range %q", r.Body, r.Header.Get("Content-Range"))
	}
	f.get(t, path, http.StatusRequestedRangeNotSatisfiable, "Range", "bytes=100-200")
	f.get(t, path, http.StatusNotModified, "If-None-Match", a.Header.Get("ETag"))
	h := do(t, f.h, http.MethodHead, path)
	if h.Status != http.StatusOK || h.Body != "" || h.Header.Get("Content-Length") != "25" {
		t.Errorf("HEAD: status %d, body %q, Content-Length %q", h.Status, h.Body, h.Header.Get("Content-Length"))
	}
	// A blob that a private post also attaches is served for the public post's sake.
	f.get(t, "/blob/"+hex.EncodeToString(f.blobShared[:]), http.StatusOK)
}

// TestBlobMediaTypes: a type the author declared that a browser would run (HTML, SVG)
// is served as a download, in a sandbox.
func TestBlobMediaTypes(t *testing.T) {
	f := newFixture(t, public.Config{})
	for _, tc := range []struct{ declared, want string }{
		{"image/jpeg", "image/jpeg"},
		{"text/plain", "text/plain; charset=utf-8"},
		{"text/html", "application/octet-stream"},
		{"image/svg+xml", "application/octet-stream"},
		{"application/javascript", "application/octet-stream"},
		{"nonsense", "application/octet-stream"},
	} {
		sum := f.src.PutBlob([]byte("<script>alert(1)</script> as " + tc.declared))
		p := publictest.NewPayload("with a blob", publictest.Public, t0+50000)
		p.Attachments = []*postv1.Attachment{{Sha256: sum[:], Size: 10, MediaType: tc.declared}}
		f.put(t, p)
		a := f.get(t, "/blob/"+hex.EncodeToString(sum[:]), http.StatusOK)
		if got := a.Header.Get("Content-Type"); got != tc.want {
			t.Errorf("declared %q: served as %q, want %q", tc.declared, got, tc.want)
		}
		if tc.want == "application/octet-stream" && !strings.HasPrefix(a.Header.Get("Content-Disposition"), "attachment") {
			t.Errorf("declared %q: not served as an attachment", tc.declared)
		}
		if !strings.Contains(a.Header.Get("Content-Security-Policy"), "sandbox") {
			t.Errorf("declared %q: blob not sandboxed", tc.declared)
		}
	}
}
