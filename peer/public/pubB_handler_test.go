package public_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
)

// liarSource is the fixture's Source, with one lie of a faulty Source at a time.
type liarSource struct {
	*publictest.Memory
	wrongPost  *public.Post // PublicPost answers this post, whatever the id
	badCursor  string       // PublicPosts answers this cursor as Next
	ignoreTags bool         // PublicPosts answers every public post, whatever the tag
	deadline   *time.Duration
}

func (s liarSource) Profile(ctx context.Context) (public.Profile, error) {
	if s.deadline != nil {
		d, ok := ctx.Deadline()
		if !ok {
			*s.deadline = -1
		} else {
			*s.deadline = time.Until(d)
		}
	}
	return s.Memory.Profile(ctx)
}

func (s liarSource) PublicPost(ctx context.Context, id public.PostID) (public.Post, error) {
	if s.wrongPost != nil {
		return *s.wrongPost, nil
	}
	return s.Memory.PublicPost(ctx, id)
}

func (s liarSource) PublicPosts(ctx context.Context, q public.Query) (public.Page, error) {
	if s.ignoreTags {
		q.Tag = ""
	}
	page, err := s.Memory.PublicPosts(ctx, q)
	if s.badCursor != "" {
		page.Next = s.badCursor
	}
	return page, err
}

// liarHandler serves f's posts through src with cfg, the fixture's defaults filled in.
func liarHandler(t *testing.T, src public.Source, cfg public.Config) http.Handler {
	t.Helper()
	cfg.Source, cfg.BaseURL, cfg.RatePerSecond = src, "https://alice.example", -1
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	h, err := public.NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestPostPageChecksTheID: a Source that answers another public post for an id gets a
// 404, and nothing of the post it gave shows.
func TestPostPageChecksTheID(t *testing.T) {
	f := newFixture(t, public.Config{})
	other := f.latest[public.PostID(f.pubB.GetId())]
	h := liarHandler(t, liarSource{Memory: f.src, wrongPost: &other}, public.Config{})
	for _, target := range []string{"/p/" + publictest.ID(f.pubA), "/p/" + publictest.ID(f.pubA) + ".json"} {
		a := do(t, h, http.MethodGet, target)
		if a.Status != http.StatusNotFound || strings.Contains(a.Body, "bold") || strings.Contains(a.Body, publictest.ID(f.pubB)) {
			t.Errorf("GET %s answered with another post: %d %.200s", target, a.Status, a.Body)
		}
	}
	// The same Source asked for that very post serves it.
	if a := do(t, h, http.MethodGet, "/p/"+publictest.ID(f.pubB)); a.Status != http.StatusOK {
		t.Errorf("GET the post the Source gives: %d", a.Status)
	}
}

// TestUnusableCursorEndsPaging: a cursor from the Source that a client could not send
// back is never offered as the next page.
func TestUnusableCursorEndsPaging(t *testing.T) {
	f := newFixture(t, public.Config{})
	good := f.get(t, "/", http.StatusOK).Body
	if !strings.Contains(good, "?after=") {
		t.Fatalf("a first page of 2 out of 3 posts offers no next page")
	}
	h := liarHandler(t, liarSource{Memory: f.src, badCursor: "bad cursor<>"}, public.Config{PageSize: 2})
	for _, target := range []string{"/", "/feed.atom", "/feed.json", "/tags/kith"} {
		a := do(t, h, http.MethodGet, target)
		if a.Status != http.StatusOK || strings.Contains(a.Body, "after=") || strings.Contains(a.Body, "bad cursor") {
			t.Errorf("GET %s with an unusable cursor: %d, offers it: %.300s", target, a.Status, a.Body)
		}
	}
}

// TestTagPageOnlyTagged: a Source that lists untagged posts under a tag has them left
// out of the tag's page and nowhere else.
func TestTagPageOnlyTagged(t *testing.T) {
	f := newFixture(t, public.Config{})
	h := liarHandler(t, liarSource{Memory: f.src, ignoreTags: true}, public.Config{PageSize: 10})
	a := do(t, h, http.MethodGet, "/tags/intro")
	if a.Status != http.StatusOK || !strings.Contains(a.Body, publictest.ID(f.pubA)) {
		t.Fatalf("/tags/intro lost the post tagged #intro: %d", a.Status)
	}
	for _, p := range []string{publictest.ID(f.pubB), publictest.ID(f.pubShared)} {
		if strings.Contains(a.Body, p) {
			t.Errorf("/tags/intro lists post %s, which is not tagged #intro", p)
		}
	}
	if a := do(t, h, http.MethodGet, "/"); !strings.Contains(a.Body, publictest.ID(f.pubB)) {
		t.Errorf("the index lost an untagged post")
	}
}

// TestSourceTimeoutDefault: each Source call gets SourceTimeout, 5 s when it is zero or
// negative.
func TestSourceTimeoutDefault(t *testing.T) {
	f := newFixture(t, public.Config{})
	for _, tc := range []struct {
		set, want time.Duration
	}{
		{0, public.DefaultSourceTimeout}, {-time.Second, public.DefaultSourceTimeout},
		{time.Nanosecond * 1e9, time.Second}, {time.Hour, time.Hour},
	} {
		var got time.Duration
		h := liarHandler(t, liarSource{Memory: f.src, deadline: &got}, public.Config{SourceTimeout: tc.set})
		do(t, h, http.MethodGet, "/robots.txt")
		do(t, h, http.MethodGet, "/")
		if got > tc.want || got < tc.want-time.Second/2 {
			t.Errorf("SourceTimeout %v: a Source call has %v left, want about %v", tc.set, got, tc.want)
		}
	}
}

// TestLoggerUsed: a Logger in the Config gets the handler's log lines.
func TestLoggerUsed(t *testing.T) {
	f := newFixture(t, public.Config{})
	var buf bytes.Buffer
	h := liarHandler(t, liarSource{Memory: f.src, badCursor: "bad cursor<>"}, public.Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	do(t, h, http.MethodGet, "/")
	if !strings.Contains(buf.String(), "unusable cursor") {
		t.Errorf("the configured logger got %q, want the unusable cursor's line", buf.String())
	}
}

// TestRetryAfterRoundsUp: Retry-After is the wait for the next token in whole seconds,
// rounded up, and exact when the wait is whole.
func TestRetryAfterRoundsUp(t *testing.T) {
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		rate float64
		want string
	}{
		{1, "1"}, {0.5, "2"}, {0.4, "3"}, {10, "1"},
	} {
		f := newFixture(t, public.Config{RatePerSecond: tc.rate, RateBurst: 1, Clock: func() time.Time { return now }})
		f.get(t, "/robots.txt", http.StatusOK)
		if a := f.get(t, "/robots.txt", http.StatusTooManyRequests); a.Header.Get("Retry-After") != tc.want {
			t.Errorf("rate %v/s: Retry-After %q, want %s", tc.rate, a.Header.Get("Retry-After"), tc.want)
		}
	}
}

// TestURIBounds: a query of MaxQuery bytes and a path of MaxPath bytes are served; one
// byte more is 414.
func TestURIBounds(t *testing.T) {
	f := newFixture(t, public.Config{MaxQuery: 40, MaxPath: 50})
	q := "x=" + strings.Repeat("a", 38) // 40 bytes
	f.get(t, "/robots.txt?"+q, http.StatusOK)
	f.get(t, "/robots.txt?"+q+"a", http.StatusRequestURITooLong)
	path := "/tags/" + strings.Repeat("a", 44) // 50 bytes
	f.get(t, path, http.StatusOK)
	f.get(t, path+"a", http.StatusRequestURITooLong)
	d := newFixture(t, public.Config{})
	d.get(t, "/tags/"+strings.Repeat("a", public.DefaultMaxPath-6), http.StatusBadRequest) // past MaxTag, not too long
	d.get(t, "/tags/"+strings.Repeat("a", public.DefaultMaxPath-5), http.StatusRequestURITooLong)
}
