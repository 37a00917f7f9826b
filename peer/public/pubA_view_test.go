package public_test

import (
	"strings"
	"testing"

	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
)

// between is the text of body between the first start and the end after it.
func between(body, start, end string) string {
	_, rest, ok := strings.Cut(body, start)
	if !ok {
		return "<no " + start + ">"
	}
	v, _, _ := strings.Cut(rest, end)
	return v
}

// TestPostTitleExcerpt: a post page's title (and og:title) is the first line of the
// text, trimmed, whole up to 80 characters (runes, not bytes); a longer line is cut to
// 80 characters, back to its last space if that space is past the 40th byte, and ends
// with "…". A post without text is titled by its id.
func TestPostTitleExcerpt(t *testing.T) {
	a, b, e := strings.Repeat("a", 100), strings.Repeat("b", 100), strings.Repeat("é", 100)
	key := newKey(t)
	src := publictest.NewMemory(key.Public())
	h, err := public.NewHandler(public.Config{Source: src, Logger: discardLogger(), RatePerSecond: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ text, title string }{
		{a[:79], a[:79]},
		{a[:80], a[:80]},
		{a[:81], a[:80] + "…"},
		{e[:2*80], e[:2*80]},
		{e[:2*81], e[:2*80] + "…"},
		{a[:40] + " " + b[:50], a[:40] + " " + b[:39] + "…"}, // the space is the 40th byte: not past it
		{a[:41] + " " + b[:50], a[:41] + "…"},
		{a[:60] + " " + b[:19] + " " + b[:10], a[:60] + "…"}, // the cut does not look past the 80th character
		{a[:20] + " " + b[:70], a[:20] + " " + b[:59] + "…"},
		{a[:80] + " b", a[:80] + "…"},
		{"  first line  \nsecond line", "first line"},
		{"\n\n  hello\nworld", "hello"},
	} {
		p := publictest.NewPayload(tc.text, publictest.Public, t0)
		put(t, src, key, p)
		page := do(t, h, "GET", "/p/"+publictest.ID(p))
		if page.Status != 200 {
			t.Fatalf("post %q: status %d", tc.text, page.Status)
		}
		if got := between(page.Body, "<title>", "</title>"); got != tc.title {
			t.Errorf("title of %q = %q, want %q", tc.text, got, tc.title)
		}
		if got := between(page.Body, `<meta property="og:title" content="`, `"`); got != tc.title {
			t.Errorf("og:title of %q = %q, want %q", tc.text, got, tc.title)
		}
	}
	p := publictest.NewPayload("", publictest.Public, t0)
	p.Attachments = []*postv1.Attachment{{Sha256: make([]byte, 32), Size: 1, MediaType: "image/png"}}
	put(t, src, key, p)
	page := do(t, h, "GET", "/p/"+publictest.ID(p))
	if want := "Post " + publictest.ID(p)[:8]; between(page.Body, "<title>", "</title>") != want {
		t.Errorf("title of a post without text: %q, want %q", between(page.Body, "<title>", "</title>"), want)
	}
}

// TestEditedOnlyFromVersion2: a post shows "edited" only when its version is past 1.
func TestEditedOnlyFromVersion2(t *testing.T) {
	key := newKey(t)
	src := publictest.NewMemory(key.Public())
	h, err := public.NewHandler(public.Config{Source: src, Logger: discardLogger(), RatePerSecond: -1})
	if err != nil {
		t.Fatal(err)
	}
	p := publictest.NewPayload("first words", publictest.Public, t0)
	put(t, src, key, p)
	if page := do(t, h, "GET", "/p/"+publictest.ID(p)); page.Status != 200 || strings.Contains(page.Body, "edited") {
		t.Errorf("version 1: status %d, says edited: %v", page.Status, strings.Contains(page.Body, "edited"))
	}
	p = publictest.Edit(p, t0+1000, func(p *postv1.Payload) { p.Text = "second words" })
	put(t, src, key, p)
	if page := do(t, h, "GET", "/p/"+publictest.ID(p)); page.Status != 200 || !strings.Contains(page.Body, "· edited <time") {
		t.Errorf("version 2: status %d, says edited: %v", page.Status, strings.Contains(page.Body, "· edited <time"))
	}
}
