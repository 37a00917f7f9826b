package public_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/public"
)

// TestRateLimitRefillAndRetryAfter: with a rate of 1/4 token a second and a burst of
// 2, a client gets exactly 2 requests at once, then 429 with a Retry-After that is the
// time until its next whole token (4 s from empty, 3 s after 1 s of refill); refill is
// rate times elapsed time and never exceeds the burst.
func TestRateLimitRefillAndRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	f := newFixture(t, public.Config{RatePerSecond: 0.25, RateBurst: 2, Clock: func() time.Time { return now }})
	step := func(at time.Duration, want int, retry string) {
		t.Helper()
		a := do(t, f.h, "GET", "/robots.txt")
		if a.Status != want || a.Header.Get("Retry-After") != retry {
			t.Fatalf("at +%v: status %d, Retry-After %q; want %d, %q", at, a.Status, a.Header.Get("Retry-After"), want, retry)
		}
	}
	at := func(d time.Duration) time.Duration {
		now = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC).Add(d)
		return d
	}
	d := at(0)
	step(d, 200, "")
	step(d, 200, "")
	step(d, http.StatusTooManyRequests, "4") // 0 tokens: (1-0)/0.25 s
	d = at(time.Second)                      // 0.25 tokens
	step(d, http.StatusTooManyRequests, "3") // (1-0.25)/0.25 s
	d = at(2 * time.Second)                  // 0.5 tokens
	step(d, http.StatusTooManyRequests, "2")
	d = at(3900 * time.Millisecond) // 0.975 tokens: still short of one
	step(d, http.StatusTooManyRequests, "1")
	d = at(4 * time.Second) // 1 token
	step(d, 200, "")
	step(d, http.StatusTooManyRequests, "4")
	d = at(time.Hour) // refilled far past the burst: capped at 2
	step(d, 200, "")
	step(d, 200, "")
	step(d, http.StatusTooManyRequests, "4")
}

// TestRateLimitRetryAfterRoundsUp: Retry-After is whole seconds, rounded up, so that a
// client that obeys it finds a token.
func TestRateLimitRetryAfterRoundsUp(t *testing.T) {
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	f := newFixture(t, public.Config{RatePerSecond: 0.1, RateBurst: 1, Clock: func() time.Time { return now }})
	f.get(t, "/robots.txt", 200)
	now = now.Add(2500 * time.Millisecond) // 0.25 tokens: 7.5 s to go
	a := f.get(t, "/robots.txt", http.StatusTooManyRequests)
	if got, _ := strconv.Atoi(a.Header.Get("Retry-After")); got != 8 {
		t.Fatalf("Retry-After %q, want 8 (7.5 s rounded up)", a.Header.Get("Retry-After"))
	}
	now = now.Add(7500 * time.Millisecond)
	f.get(t, "/robots.txt", 200)
}
