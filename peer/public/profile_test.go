package public_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
	"github.com/kithnet/kith/shared/identity"
)

// followSource publishes (or not) a follow list and a name.
type followSource struct {
	*publictest.Memory
	profile public.Profile
}

func (s followSource) Profile(context.Context) (public.Profile, error) { return s.profile, nil }

// TestProfileShowsOnlyWhatWasPublished: no name and no friend's ID unless the person
// published them.
func TestProfileShowsOnlyWhatWasPublished(t *testing.T) {
	f := newFixture(t, public.Config{})
	friend, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		follows []identity.PublicKey
	}{{"", nil}, {"Alice", []identity.PublicKey{friend.Public()}}} {
		src := followSource{f.src, public.Profile{ID: f.key.Public(), Name: tc.name, Follows: tc.follows}}
		h := public.Handler(public.Config{Source: src, BaseURL: "https://alice.example", RatePerSecond: -1, Logger: discardLogger()})
		body := do(t, h, http.MethodGet, "/").Body
		if got := strings.Contains(body, string(friend.ID())); got != (tc.follows != nil) {
			t.Errorf("follow list published=%v, friend's ID on the page=%v", tc.follows != nil, got)
		}
		if tc.name == "" && (strings.Contains(body, "Alice Example") || !strings.Contains(body, "<title>"+string(f.key.ID())+" on kith</title>")) {
			t.Errorf("no published name: the page must name the person by their ID only")
		}
	}
}

// slowSource answers after its caller's deadline.
type slowSource struct{ *publictest.Memory }

func (s slowSource) PublicPosts(ctx context.Context, q public.Query) (public.Page, error) {
	<-ctx.Done()
	return public.Page{}, ctx.Err()
}

func TestSlowSourceAnswers503(t *testing.T) {
	f := newFixture(t, public.Config{})
	h := public.Handler(public.Config{Source: slowSource{f.src}, SourceTimeout: 20 * time.Millisecond, RatePerSecond: -1, Logger: discardLogger()})
	a := do(t, h, http.MethodGet, "/")
	if a.Status != http.StatusServiceUnavailable || a.Header.Get("Retry-After") == "" {
		t.Errorf("slow source: status %d, Retry-After %q; want 503 with Retry-After", a.Status, a.Header.Get("Retry-After"))
	}
}
