package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/redistest"
)

// harness is one Store under test with a way to let time pass for it.
type harness struct {
	s       Store
	advance func(time.Duration)
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestMemory(t *testing.T) {
	runSuite(t, func(t *testing.T) harness {
		clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
		m := NewMemory(clock.Now)
		t.Cleanup(func() { m.Close() })
		return harness{s: m, advance: clock.Add}
	})
}

func TestRedis(t *testing.T) {
	srv := redistest.Start(t)
	runSuite(t, func(t *testing.T) harness {
		if _, err := srv.Do("FLUSHALL"); err != nil {
			t.Fatal(err)
		}
		r, err := Dial(srv.URL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		// Redis expires keys by its own clock: let real time pass.
		return harness{s: r, advance: time.Sleep}
	})
}

func fingerprint(t *testing.T) identity.Fingerprint {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.Public().Fingerprint()
}

// ttl is short because the Redis run waits for it in real time.
const ttl = 300 * time.Millisecond

func runSuite(t *testing.T, newHarness func(t *testing.T) harness) {
	ctx := context.Background()
	t.Run("PutGet", func(t *testing.T) {
		h, fp := newHarness(t), fingerprint(t)
		if _, err := h.s.Get(ctx, fp); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get before Put: got %v, want ErrNotFound", err)
		}
		want := Record{Envelope: []byte("\x00signed\xffbytes"), TimestampMs: 1000}
		if err := h.s.Put(ctx, fp, want, time.Minute); err != nil {
			t.Fatal(err)
		}
		got, err := h.s.Get(ctx, fp)
		if err != nil || !bytes.Equal(got.Envelope, want.Envelope) || got.TimestampMs != 1000 {
			t.Fatalf("Get = %q, %d, %v; want the record byte for byte", got.Envelope, got.TimestampMs, err)
		}
	})
	t.Run("GetMany", func(t *testing.T) {
		h := newHarness(t)
		fps := []identity.Fingerprint{fingerprint(t), fingerprint(t), fingerprint(t)}
		must(t, h.s.Put(ctx, fps[0], Record{Envelope: []byte("zero"), TimestampMs: 10}, time.Minute))
		must(t, h.s.Put(ctx, fps[2], Record{Envelope: []byte("two"), TimestampMs: 12}, time.Minute))
		got, err := h.s.GetMany(ctx, fps)
		must(t, err)
		if len(got) != 3 || string(got[0].Envelope) != "zero" || got[0].TimestampMs != 10 ||
			got[1].Envelope != nil || string(got[2].Envelope) != "two" || got[2].TimestampMs != 12 {
			t.Fatalf("GetMany = %+v; want zero, absent, two in request order", got)
		}
		if got, err := h.s.GetMany(ctx, nil); err != nil || len(got) != 0 {
			t.Fatalf("GetMany(nil) = %v, %v", got, err)
		}
	})
	t.Run("AllowKeyBesideRecord", func(t *testing.T) {
		h, fp := newHarness(t), fingerprint(t)
		win := 2 * ttl
		allow := func(want bool) {
			t.Helper()
			if ok, err := h.s.AllowKey(ctx, fp, 2, win); err != nil || ok != want {
				t.Fatalf("AllowKey = %v, %v; want %v", ok, err, want)
			}
		}
		allow(true) // a counter before any record is no record
		if _, err := h.s.Get(ctx, fp); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get with only a counter: %v, want ErrNotFound", err)
		}
		must(t, h.s.Put(ctx, fp, Record{Envelope: []byte("rec-v1"), TimestampMs: 100}, time.Minute))
		allow(true)
		allow(false) // third in the window
		must(t, h.s.Put(ctx, fp, Record{Envelope: []byte("rec-v2"), TimestampMs: 101}, time.Minute))
		allow(false) // a newer record keeps the count
		if got, err := h.s.Get(ctx, fp); err != nil || string(got.Envelope) != "rec-v2" || got.TimestampMs != 101 {
			t.Fatalf("Get beside a counter = %q, %d, %v; want rec-v2 byte for byte", got.Envelope, got.TimestampMs, err)
		}
		must(t, h.s.Delete(ctx, fp, 102))
		allow(false) // unregistering does not reset the count
		if _, err := h.s.Get(ctx, fp); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
		}
		h.advance(win + 100*time.Millisecond)
		allow(true) // a new window
	})
	t.Run("OnlyNewerReplaces", func(t *testing.T) {
		h, fp := newHarness(t), fingerprint(t)
		must(t, h.s.Put(ctx, fp, Record{Envelope: []byte("v2"), TimestampMs: 2000}, time.Minute))
		for _, ts := range []int64{2000, 1999} {
			if err := h.s.Put(ctx, fp, Record{Envelope: []byte("old"), TimestampMs: ts}, time.Minute); !errors.Is(err, ErrNotNewer) {
				t.Fatalf("Put ts %d over 2000: got %v, want ErrNotNewer", ts, err)
			}
		}
		must(t, h.s.Put(ctx, fp, Record{Envelope: []byte("v3"), TimestampMs: 2001}, time.Minute))
		if got, _ := h.s.Get(ctx, fp); string(got.Envelope) != "v3" {
			t.Fatalf("after newer Put: got %q, want v3", got.Envelope)
		}
	})
	t.Run("Expiry", func(t *testing.T) {
		h, fp := newHarness(t), fingerprint(t)
		must(t, h.s.Put(ctx, fp, Record{Envelope: []byte("x"), TimestampMs: 1}, ttl))
		h.advance(ttl + 100*time.Millisecond)
		if _, err := h.s.Get(ctx, fp); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get after TTL: got %v, want ErrNotFound", err)
		}
	})
	t.Run("DeleteOnlyOlder", func(t *testing.T) {
		h, fp := newHarness(t), fingerprint(t)
		must(t, h.s.Put(ctx, fp, Record{Envelope: []byte("x"), TimestampMs: 5000}, time.Minute))
		must(t, h.s.Delete(ctx, fp, 5000))
		if _, err := h.s.Get(ctx, fp); err != nil {
			t.Fatalf("Delete before an equal timestamp removed the record: %v", err)
		}
		must(t, h.s.Delete(ctx, fp, 5001))
		if _, err := h.s.Get(ctx, fp); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get after Delete: got %v, want ErrNotFound", err)
		}
		must(t, h.s.Delete(ctx, fingerprint(t), 1)) // absent: not an error
	})
	runDeviceSuite(t, newHarness)
	t.Run("PublishSubscribe", func(t *testing.T) {
		h, fp := newHarness(t), fingerprint(t)
		if err := h.s.Publish(ctx, fp, []byte("nobody")); !errors.Is(err, ErrNoListener) {
			t.Fatalf("Publish with no subscriber: got %v, want ErrNoListener", err)
		}
		sub, err := h.s.Subscribe(ctx, fp)
		must(t, err)
		must(t, h.s.Publish(ctx, fp, []byte("offer")))
		select {
		case m := <-sub.Messages():
			if string(m) != "offer" {
				t.Fatalf("got %q, want offer", m)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no message in 5s")
		}
		must(t, sub.Close())
		if _, ok := <-sub.Messages(); ok {
			t.Fatal("Messages not closed after Close")
		}
		if err := h.s.Publish(ctx, fp, []byte("late")); !errors.Is(err, ErrNoListener) {
			t.Fatalf("Publish after unsubscribe: got %v, want ErrNoListener", err)
		}
	})
	t.Run("SlowSubscriberDropsCounted", func(t *testing.T) {
		h, slow, fast := newHarness(t), fingerprint(t), fingerprint(t)
		stuck, err := h.s.Subscribe(ctx, slow)
		must(t, err)
		defer stuck.Close()
		other, err := h.s.Subscribe(ctx, fast)
		must(t, err)
		defer other.Close()
		const extra = 10
		for i := range subQueue + extra {
			must(t, h.s.Publish(ctx, slow, []byte(fmt.Sprint(i))))
		}
		must(t, h.s.Publish(ctx, fast, []byte("fast")))
		select {
		case m := <-other.Messages():
			if string(m) != "fast" {
				t.Fatalf("got %q, want fast", m)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a stuck subscriber blocked delivery to another one")
		}
		d := h.s.(interface{ Dropped() uint64 })
		deadline := time.Now().Add(5 * time.Second)
		for d.Dropped() != extra && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := d.Dropped(); got != extra {
			t.Fatalf("Dropped() = %d after %d messages to a queue of %d, want %d", got, subQueue+extra, subQueue, extra)
		}
		if got := len(stuck.Messages()); got != subQueue {
			t.Fatalf("stuck queue holds %d, want its bound %d", got, subQueue)
		}
	})
	t.Run("SubscriptionEndsWithContext", func(t *testing.T) {
		h, fp := newHarness(t), fingerprint(t)
		sctx, cancel := context.WithCancel(ctx)
		sub, err := h.s.Subscribe(sctx, fp)
		must(t, err)
		cancel()
		select {
		case _, ok := <-sub.Messages():
			if ok {
				t.Fatal("message after cancel")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("subscription did not end with its context")
		}
		must(t, sub.Close())
	})
	t.Run("Claim", func(t *testing.T) {
		h := newHarness(t)
		key := string(fingerprint(t)) + ":nonce"
		for i, want := range []bool{true, false} {
			ok, err := h.s.Claim(ctx, key, ttl)
			if err != nil || ok != want {
				t.Fatalf("Claim #%d = %v, %v; want %v", i+1, ok, err, want)
			}
		}
		h.advance(ttl + 100*time.Millisecond)
		if ok, err := h.s.Claim(ctx, key, ttl); err != nil || !ok {
			t.Fatalf("Claim after expiry = %v, %v; want true", ok, err)
		}
	})
	t.Run("Allow", func(t *testing.T) {
		h := newHarness(t)
		key := "ip:192.0.2.1"
		for i := 1; i <= 4; i++ {
			ok, err := h.s.Allow(ctx, key, 3, ttl)
			if err != nil || ok != (i <= 3) {
				t.Fatalf("Allow #%d = %v, %v; want %v", i, ok, err, i <= 3)
			}
		}
		h.advance(ttl + 100*time.Millisecond)
		if ok, err := h.s.Allow(ctx, key, 3, ttl); err != nil || !ok {
			t.Fatalf("Allow in a new window = %v, %v; want true", ok, err)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRedisCluster runs the suite on a six-node Cluster: hash-tagged keys keep every
// script on one slot, and offers go by sharded pub/sub.
func TestRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	runSuite(t, func(t *testing.T) harness {
		r, err := Dial("", cl.Addrs())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return harness{s: r, advance: time.Sleep}
	})
}

// TestMemorySweeps checks that expired entries do not accumulate in the memory store.
func TestMemorySweeps(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	m := NewMemory(clock.Now)
	defer m.Close()
	ctx := context.Background()
	for i := range 2 * sweepEvery {
		fp := identity.Fingerprint(fmt.Sprintf("fp%d", i))
		must(t, m.Put(ctx, fp, Record{Envelope: []byte("x"), TimestampMs: 1}, time.Second))
		if _, err := m.Claim(ctx, string(fp), time.Second); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Allow(ctx, string(fp), 1, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(2 * time.Second)
	for i := range sweepEvery {
		must(t, m.Put(ctx, identity.Fingerprint(fmt.Sprintf("new%d", i)), Record{TimestampMs: 1}, time.Minute))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.records) > sweepEvery || len(m.claims) != 0 || len(m.windows) != 0 {
		t.Fatalf("after expiry and a sweep: %d records, %d claims, %d windows; want only the %d live records",
			len(m.records), len(m.claims), len(m.windows), sweepEvery)
	}
}

// FuzzParseValue: any stored bytes parse to a record, ErrNotFound or an error, never a
// panic; a parsed record's envelope is the bytes after the header.
func FuzzParseValue(f *testing.F) {
	f.Add(string(make([]byte, headerLen)) + "env")
	f.Add("short")
	f.Add("\xff\xff\xff\xff\xff\xff\xff\xff" + string(make([]byte, 12)))
	f.Fuzz(func(t *testing.T, v string) {
		rec, err := parseValue(v)
		if err == nil && string(rec.Envelope) != v[headerLen:] {
			t.Fatalf("envelope %q is not the bytes after the header of %q", rec.Envelope, v)
		}
	})
}
