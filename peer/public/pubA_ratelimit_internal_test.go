package public

import (
	"strconv"
	"testing"
	"time"
)

// TestLimiterMemoryBound: the limiter tracks at most maxTracked clients. A new client
// past the bound first drops the buckets that are full again (their clients lose
// nothing); if that frees nothing, it forgets every client rather than grow.
func TestLimiterMemoryBound(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }

	t.Run("full buckets are dropped, the others kept", func(t *testing.T) {
		l := newLimiter(1, 2, clock)
		const early = 3000 // clients seen at t0; the rest one second later
		now = t0
		for i := range maxTracked {
			if i == early {
				now = t0.Add(time.Second)
			}
			if ok, _ := l.allow(strconv.Itoa(i)); !ok {
				t.Fatalf("client %d refused its first request", i)
			}
		}
		if len(l.buckets) != maxTracked {
			t.Fatalf("%d buckets after %d clients", len(l.buckets), maxTracked)
		}
		// At t0+1.5s the early clients are full again (1 + 1.5, capped at 2) and the
		// late ones are not (1 + 0.5).
		now = t0.Add(1500 * time.Millisecond)
		if ok, _ := l.allow("newcomer"); !ok {
			t.Fatal("newcomer refused")
		}
		if want := maxTracked - early + 1; len(l.buckets) != want {
			t.Fatalf("%d buckets after the sweep, want %d (the late clients and the newcomer)", len(l.buckets), want)
		}
		if _, ok := l.buckets["0"]; ok {
			t.Error("a full bucket (client 0) survived the sweep")
		}
		if b, ok := l.buckets[strconv.Itoa(maxTracked-1)]; !ok || b.tokens != 1.5 {
			t.Errorf("a client still refilling lost its bucket or its tokens: %+v", b)
		}
	})

	t.Run("below the bound nothing is swept", func(t *testing.T) {
		l := newLimiter(1, 2, clock)
		now = t0
		for i := range maxTracked - 1 {
			l.allow(strconv.Itoa(i))
		}
		now = t0.Add(time.Hour) // every bucket is full again, but the bound is not reached
		l.allow("newcomer")
		if len(l.buckets) != maxTracked {
			t.Fatalf("%d buckets, want %d: a sweep ran below the bound", len(l.buckets), maxTracked)
		}
	})

	t.Run("a flood of active clients is forgotten", func(t *testing.T) {
		l := newLimiter(1, 2, clock)
		now = t0
		for i := range maxTracked {
			l.allow(strconv.Itoa(i))
			l.allow(strconv.Itoa(i)) // empty: 0 tokens
		}
		if ok, _ := l.allow("0"); ok {
			t.Fatal("client 0 got a third request in its burst of 2")
		}
		now = t0.Add(500 * time.Millisecond) // nobody is full again
		l.allow("newcomer")
		if len(l.buckets) != 1 {
			t.Fatalf("%d buckets after a flood, want 1 (only the newcomer)", len(l.buckets))
		}
	})
}
