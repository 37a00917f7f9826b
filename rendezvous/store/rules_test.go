package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/redistest"
)

// runRules is a second part of the behavioural suite: rules each implementation must
// keep beyond the basics of runSuite (expired records, independence of keys, fan-out,
// copies, a closed store).
func runRules(t *testing.T, newHarness func(t *testing.T) harness) {
	ctx := context.Background()
	t.Run("ExpiredRecordDoesNotBlockOlder", func(t *testing.T) {
		h, fp := newHarness(t), fingerprint(t)
		must(t, h.s.Put(ctx, fp, Record{Envelope: []byte("new"), TimestampMs: 2000}, ttl))
		h.advance(ttl + 100*time.Millisecond)
		if err := h.s.Put(ctx, fp, Record{Envelope: []byte("older, after expiry"), TimestampMs: 1000}, time.Minute); err != nil {
			t.Fatalf("Put after the newer record expired: %v", err)
		}
		if got, err := h.s.Get(ctx, fp); err != nil || got.TimestampMs != 1000 {
			t.Fatalf("Get = %d, %v; want the record of 1000", got.TimestampMs, err)
		}
	})
	t.Run("RecordsPerFingerprint", func(t *testing.T) {
		h, a, b := newHarness(t), fingerprint(t), fingerprint(t)
		must(t, h.s.Put(ctx, a, Record{Envelope: []byte("a"), TimestampMs: 5}, time.Minute))
		if _, err := h.s.Get(ctx, b); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get of another fingerprint: %v, want ErrNotFound", err)
		}
		must(t, h.s.Put(ctx, b, Record{Envelope: []byte("b"), TimestampMs: 1}, time.Minute))
		must(t, h.s.Delete(ctx, b, 100))
		if got, err := h.s.Get(ctx, a); err != nil || string(got.Envelope) != "a" {
			t.Fatalf("Delete of b touched a: %q, %v", got.Envelope, err)
		}
	})
	t.Run("ClaimAndAllowPerKey", func(t *testing.T) {
		h := newHarness(t)
		k1, k2 := string(fingerprint(t)), string(fingerprint(t))
		if ok, err := h.s.Claim(ctx, k1, time.Minute); err != nil || !ok {
			t.Fatalf("first Claim: %v, %v", ok, err)
		}
		if ok, err := h.s.Claim(ctx, k2, time.Minute); err != nil || !ok {
			t.Fatalf("Claim of another key after the first: %v, %v; want fresh", ok, err)
		}
		for i, want := range []bool{true, false} {
			if ok, err := h.s.Allow(ctx, k1, 1, time.Minute); err != nil || ok != want {
				t.Fatalf("Allow #%d on k1 with limit 1: %v, %v; want %v", i+1, ok, err, want)
			}
		}
		if ok, err := h.s.Allow(ctx, k2, 1, time.Minute); err != nil || !ok {
			t.Fatalf("Allow on k2 after k1 ran out: %v, %v; want true", ok, err)
		}
	})
	t.Run("EverySubscriberHears", func(t *testing.T) {
		h, fp := newHarness(t), fingerprint(t)
		s1, err := h.s.Subscribe(ctx, fp)
		must(t, err)
		defer s1.Close()
		s2, err := h.s.Subscribe(ctx, fp)
		must(t, err)
		defer s2.Close()
		other, err := h.s.Subscribe(ctx, fingerprint(t))
		must(t, err)
		defer other.Close()
		msg := []byte("offer")
		must(t, h.s.Publish(ctx, fp, msg))
		msg[0] = 'X' // the publisher's buffer is its own again
		for i, s := range []Subscription{s1, s2} {
			select {
			case m := <-s.Messages():
				if string(m) != "offer" {
					t.Fatalf("subscriber %d got %q, want offer", i+1, m)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("subscriber %d heard nothing in 5s", i+1)
			}
		}
		select {
		case m := <-other.Messages():
			t.Fatalf("a subscriber of another fingerprint got %q", m)
		case <-time.After(200 * time.Millisecond):
		}
		must(t, s1.Close())
		must(t, h.s.Publish(ctx, fp, []byte("still one"))) // s2 still listens
	})
	t.Run("SlowListenerDoesNotBlock", func(t *testing.T) {
		h, fp := newHarness(t), fingerprint(t)
		s, err := h.s.Subscribe(ctx, fp)
		must(t, err)
		defer s.Close()
		done := make(chan error, 1)
		go func() {
			for i := range 3 * subQueue {
				if err := h.s.Publish(ctx, fp, []byte(fmt.Sprint(i))); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		select {
		case err := <-done:
			must(t, err)
		case <-time.After(20 * time.Second):
			t.Fatal("publishing to a listener that does not read blocked")
		}
	})
	t.Run("Copies", func(t *testing.T) {
		h, fp := newHarness(t), fingerprint(t)
		env := []byte("signed")
		must(t, h.s.Put(ctx, fp, Record{Envelope: env, TimestampMs: 1}, time.Minute))
		env[0] = 'X'
		got, err := h.s.Get(ctx, fp)
		must(t, err)
		got.Envelope[1] = 'X'
		again, err := h.s.Get(ctx, fp)
		if err != nil || string(again.Envelope) != "signed" {
			t.Fatalf("stored envelope changed through a caller's slice: %q, %v", again.Envelope, err)
		}
	})
	t.Run("Closed", func(t *testing.T) {
		h, fp := newHarness(t), fingerprint(t)
		sub, err := h.s.Subscribe(ctx, fp)
		must(t, err)
		must(t, h.s.Close())
		select {
		case _, ok := <-sub.Messages():
			if ok {
				t.Fatal("a message after Close")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a subscription outlived its store's Close")
		}
		for name, err := range map[string]error{
			"Put":     h.s.Put(ctx, fp, Record{TimestampMs: 1}, time.Minute),
			"Get":     func() error { _, err := h.s.Get(ctx, fp); return err }(),
			"Delete":  h.s.Delete(ctx, fp, 1),
			"Publish": h.s.Publish(ctx, fp, []byte("x")),
			"Subscribe": func() error {
				s, err := h.s.Subscribe(ctx, fp)
				if err == nil {
					s.Close()
				}
				return err
			}(),
			"Claim": func() error { _, err := h.s.Claim(ctx, "k", time.Minute); return err }(),
			"Allow": func() error { _, err := h.s.Allow(ctx, "k", 1, time.Minute); return err }(),
		} {
			if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrNoListener) {
				t.Errorf("%s on a closed store: %v, want a failure", name, err)
			}
		}
	})
}

func TestMemoryRules(t *testing.T) {
	runRules(t, func(t *testing.T) harness {
		clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
		m := NewMemory(clock.Now)
		t.Cleanup(func() { m.Close() })
		return harness{s: m, advance: clock.Add}
	})
}

func TestRedisRules(t *testing.T) {
	srv := redistest.Start(t)
	runRules(t, func(t *testing.T) harness {
		if _, err := srv.Do("FLUSHALL"); err != nil {
			t.Fatal(err)
		}
		r, err := Dial(srv.URL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return harness{s: r, advance: time.Sleep}
	})
}

// TestMemoryExactExpiry: an entry lives until, and not at, its expiry instant, as a
// Redis key with PEXPIRE does; so do claims and rate windows.
func TestMemoryExactExpiry(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	m := NewMemory(clock.Now)
	defer m.Close()
	ctx := context.Background()
	fp := identity.Fingerprint("fp")
	must(t, m.Put(ctx, fp, Record{TimestampMs: 1}, time.Second))
	if ok, _ := m.Claim(ctx, "nonce", time.Second); !ok {
		t.Fatal("first claim refused")
	}
	if ok, _ := m.Allow(ctx, "ip", 1, time.Second); !ok {
		t.Fatal("first event refused")
	}
	clock.Add(time.Second - time.Nanosecond)
	if _, err := m.Get(ctx, fp); err != nil {
		t.Errorf("record gone a nanosecond before its expiry: %v", err)
	}
	if ok, _ := m.Claim(ctx, "nonce", time.Second); ok {
		t.Error("nonce claimed again a nanosecond before its claim expired")
	}
	if ok, _ := m.Allow(ctx, "ip", 1, time.Second); ok {
		t.Error("a second event allowed in the window")
	}
	if err := m.Put(ctx, fp, Record{TimestampMs: 1}, time.Second); !errors.Is(err, ErrNotNewer) {
		t.Errorf("replay a nanosecond before expiry: %v, want ErrNotNewer", err)
	}
	clock.Add(time.Nanosecond)
	if _, err := m.Get(ctx, fp); !errors.Is(err, ErrNotFound) {
		t.Errorf("record at its expiry instant: %v, want ErrNotFound", err)
	}
	if ok, _ := m.Claim(ctx, "nonce", time.Second); !ok {
		t.Error("nonce not claimable at its expiry instant")
	}
	if ok, _ := m.Allow(ctx, "ip", 1, time.Second); !ok {
		t.Error("no new window at the old one's end")
	}
}

// TestMemorySweepKeepsLive: a sweep drops exactly what expired, entries at their
// expiry instant included, and keeps what lives.
func TestMemorySweepKeepsLive(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	m := NewMemory(clock.Now)
	defer m.Close()
	ctx := context.Background()
	must(t, m.Put(ctx, "short", Record{TimestampMs: 1}, time.Second))
	m.Claim(ctx, "short", time.Second)
	m.Allow(ctx, "short", 1, time.Second)
	must(t, m.Put(ctx, "long", Record{TimestampMs: 1}, time.Hour))
	m.Claim(ctx, "long", time.Hour)
	m.Allow(ctx, "long", 1, time.Hour)
	clock.Add(time.Second)
	for i := m.ops; i%sweepEvery != 0; i++ {
		m.Claim(ctx, fmt.Sprint("filler", i), time.Hour)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, shortRec := m.records["short"]
	_, shortClaim := m.claims["short"]
	_, shortWin := m.windows["short"]
	_, longRec := m.records["long"]
	_, longClaim := m.claims["long"]
	_, longWin := m.windows["long"]
	if shortRec || shortClaim || shortWin || !longRec || !longClaim || !longWin {
		t.Errorf("after a sweep at the short entries' expiry: short %v %v %v (want gone), long %v %v %v (want kept)",
			shortRec, shortClaim, shortWin, longRec, longClaim, longWin)
	}
}

// TestDialOptions: Dial keeps the URL's settings and fills unset timeouts with a
// second; a Cluster reloads its slot map every second; a bad URL is refused.
func TestDialOptions(t *testing.T) {
	r, err := Dial("redis://user:pw@127.0.0.1:1/2?read_timeout=3s", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	o := r.Client().(*redis.Client).Options()
	if o.ReadTimeout != 3*time.Second || o.WriteTimeout != time.Second || o.DialTimeout != time.Second || o.MaxRetries != 1 || o.DB != 2 || o.Password != "pw" {
		t.Errorf("single-node options: read %v write %v dial %v retries %d db %d", o.ReadTimeout, o.WriteTimeout, o.DialTimeout, o.MaxRetries, o.DB)
	}
	c, err := Dial("redis://u:secret@", []string{"127.0.0.1:1", "127.0.0.1:2"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	co := c.Client().(*redis.ClusterClient).Options()
	if co.ClusterStateReloadInterval != time.Second || co.Username != "u" || co.Password != "secret" || len(co.Addrs) != 2 || co.ReadTimeout != time.Second {
		t.Errorf("cluster options: reload %v user %q addrs %v read %v", co.ClusterStateReloadInterval, co.Username, co.Addrs, co.ReadTimeout)
	}
	for _, bad := range []struct {
		url     string
		cluster []string
	}{{"http://127.0.0.1", nil}, {"::", []string{"127.0.0.1:1"}}, {"redis://127.0.0.1:1?master_name=x&db=nope", nil}} {
		if s, err := Dial(bad.url, bad.cluster); err == nil {
			s.Close()
			t.Errorf("Dial(%q, %v) succeeded", bad.url, bad.cluster)
		}
	}
}
