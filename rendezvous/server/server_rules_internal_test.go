package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/peer"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous/metrics"
	"github.com/kithnet/kith/rendezvous/store"
)

// newT builds a Server on a fresh memory store; the store is closed when t ends.
func newT(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Store == nil {
		st := store.NewMemory(time.Now)
		t.Cleanup(func() { _ = st.Close() })
		cfg.Store = st
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// series reads one sample line ("name{labels} value") from m's text exposition.
func series(t *testing.T, m *metrics.Metrics, prefix string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, prefix+" ") {
			return strings.TrimPrefix(line, prefix+" ")
		}
	}
	return ""
}

// TestHoldListenCountsPerIP: the per-address Listen count is exact through holds and
// releases, an address with no stream left is forgotten (a stranger cannot make the
// server keep one entry per address it ever used), and the open-stream gauge returns
// to zero.
func TestHoldListenCountsPerIP(t *testing.T) {
	m := metrics.New()
	s := newT(t, Config{ListensPerIP: 2, Metrics: m})
	const ip = "192.0.2.7"
	hold := func() func() {
		t.Helper()
		r, err := s.holdListen(ip)
		if err != nil {
			t.Fatalf("hold within bound: %v", err)
		}
		return r
	}
	refused := func() {
		t.Helper()
		if _, err := s.holdListen(ip); !errors.Is(err, ErrTooManyListens) {
			t.Fatalf("hold past bound: err %v, want ErrTooManyListens", err)
		}
	}
	r1, r2 := hold(), hold()
	refused()
	if got := series(t, m, "kith_rendezvous_listen_streams"); got != "2" {
		t.Fatalf("gauge after two holds = %q, want 2", got)
	}
	r1()
	if got := series(t, m, "kith_rendezvous_listen_streams"); got != "1" {
		t.Fatalf("gauge after one release = %q, want 1", got)
	}
	// One stream is still open: one more fits, a second does not.
	r3 := hold()
	refused()
	r2()
	r3()
	if got := series(t, m, "kith_rendezvous_listen_streams"); got != "0" {
		t.Fatalf("gauge after all releases = %q, want 0", got)
	}
	s.listenMu.Lock()
	left := len(s.listensByIP)
	s.listenMu.Unlock()
	if left != 0 {
		t.Fatalf("%d addresses still held after every stream closed, want 0", left)
	}
}

// TestWireCountsAndLogs: a refusal with a reason is counted under it and logged to the
// configured logger.
func TestWireCountsAndLogs(t *testing.T) {
	m := metrics.New()
	var buf bytes.Buffer
	s := newT(t, Config{Metrics: m, Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	_ = s.wire(context.Background(), "/test", ErrRateLimited)
	if got := series(t, m, `kith_rendezvous_refusals_total{reason="rate_limited"}`); got != "1" {
		t.Fatalf("refusals{rate_limited} = %q, want 1", got)
	}
	if !strings.Contains(buf.String(), "refused") || !strings.Contains(buf.String(), "rate_limited") {
		t.Fatalf("log %q: want the refusal on the configured logger", buf.String())
	}
}

// TestNewDefaults: New keeps a given logger and clock, and fills in working ones when
// none is given.
func TestNewDefaults(t *testing.T) {
	fixed := time.UnixMilli(1_800_000_000_000)
	s := newT(t, Config{Now: func() time.Time { return fixed }})
	if got := s.cfg.Now(); !got.Equal(fixed) {
		t.Fatalf("Now() = %v, want the configured %v", got, fixed)
	}
	d := newT(t, Config{})
	if d.cfg.Now == nil || d.cfg.Logger == nil {
		t.Fatal("New left Now or Logger nil")
	}
	_ = d.wire(context.Background(), "/test", ErrRateLimited) // must not panic
	if got := d.cfg.Now(); time.Since(got).Abs() > time.Minute {
		t.Fatalf("default Now() = %v, want the wall clock", got)
	}
}

// TestLookupManyCharge: LookupMany charges the client IP one request per started 16
// fingerprints beyond the first 16 (which the interceptor's charge covers): 16 cost
// nothing here, 17 cost one.
func TestLookupManyCharge(t *testing.T) {
	fps := make([]string, lookupManyPerRequest+1)
	for i := range fps {
		fps[i] = string(keyT(t).Public().Fingerprint())
	}
	ctx := context.Background()
	ask := func(s *Server, n int) error {
		_, err := s.LookupMany(ctx, &rendezvousv1.LookupManyRequest{Fingerprints: fps[:n]})
		return err
	}
	s := newT(t, Config{RateLimit: RateLimit{PerIP: 1, Window: time.Hour}})
	for i := range 3 {
		if err := ask(s, lookupManyPerRequest); err != nil {
			t.Fatalf("lookup of %d, call %d: %v (want no extra charge)", lookupManyPerRequest, i, err)
		}
	}
	s = newT(t, Config{RateLimit: RateLimit{PerIP: 1, Window: time.Hour}})
	if err := ask(s, lookupManyPerRequest+1); err != nil {
		t.Fatalf("first lookup of %d: %v", lookupManyPerRequest+1, err)
	}
	if err := ask(s, lookupManyPerRequest+1); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("second lookup of %d: err %v, want ErrRateLimited", lookupManyPerRequest+1, err)
	}
}

// TestLookupManySmallCostsNoRoundTrip: a LookupMany of at most 16 fingerprints adds
// nothing to the shared IP count, so it is not refused when another instance has spent
// the shared budget while this instance's interceptor still passes calls from its
// chunk (ipBudget lets up to chunk-1 calls past the shared count).
func TestLookupManySmallCostsNoRoundTrip(t *testing.T) {
	st := store.NewMemory(time.Now)
	t.Cleanup(func() { _ = st.Close() })
	s := newT(t, Config{Store: st, RateLimit: RateLimit{PerIP: 100, Window: time.Hour}})
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 9), Port: 4242}})
	// Another instance spent the shared budget of this IP.
	if _, err := st.AllowN(ctx, "ip:192.0.2.9", 101, 100, time.Hour); err != nil {
		t.Fatal(err)
	}
	fp := string(keyT(t).Public().Fingerprint())
	if _, err := s.LookupMany(ctx, &rendezvousv1.LookupManyRequest{Fingerprints: []string{fp}}); err != nil {
		t.Fatalf("lookup of one fingerprint: %v (want no charge beyond the interceptor's)", err)
	}
	// The budget is spent: a batch that costs extra is refused.
	many := make([]string, lookupManyPerRequest+1)
	for i := range many {
		many[i] = string(keyT(t).Public().Fingerprint())
	}
	if _, err := s.LookupMany(ctx, &rendezvousv1.LookupManyRequest{Fingerprints: many}); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("lookup of %d on a spent budget: err %v, want ErrRateLimited", len(many), err)
	}
}
