package portmap

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRenewal: a 4 s lifetime is renewed every 2 s; a new external port on renewal is
// reported; a gateway that stops answering makes the mapping expire.
func TestRenewal(t *testing.T) {
	var mode atomic.Int32 // 0: grant public, 1: grant another port, 2: refuse
	second := netip.AddrPortFrom(public.Addr(), 5001)
	g := newGateway(t, func(r []byte) [][]byte {
		if len(r) < pcpMapLen || r[0] != pcpVersion || r[4]|r[5]|r[6]|r[7] == 0 {
			return nil
		}
		switch mode.Load() {
		case 0:
			return [][]byte{pcpFor(r, public, 4, 0)}
		case 1:
			return [][]byte{pcpFor(r, second, 4, 0)}
		}
		return [][]byte{pcpFor(r, public, 4, 8)}
	}, false)
	var logs syncBuffer
	cfg := g.config(PCP)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	m := Start(context.Background(), cfg)
	t.Cleanup(func() { _ = m.Close() })
	<-m.Ready()
	if ext, ok := m.External(); !ok || ext != public {
		t.Fatalf("first mapping %v %v (%v)", ext, ok, m.Err())
	}
	time.Sleep(2500 * time.Millisecond)
	if n := len(g.requests()); n != 2 {
		t.Errorf("%d requests after 2.5 s of a 4 s lifetime, want the first and one renewal", n)
	}
	mode.Store(1)
	time.Sleep(2 * time.Second)
	if ext, ok := m.External(); !ok || ext != second {
		t.Errorf("after a renewal that moved the port: %v %v, want %v", ext, ok, second)
	}
	if !strings.Contains(logs.String(), "external address changed") {
		t.Errorf("the move is not logged:\n%s", logs.String())
	}
	mode.Store(2)
	time.Sleep(2500 * time.Millisecond)
	if _, ok := m.External(); !ok || !errors.Is(m.Err(), ErrRefused) {
		t.Errorf("one renewal refused, lifetime not over: mapping %v, err %v; want kept, ErrRefused", ok, m.Err())
	}
	time.Sleep(2500 * time.Millisecond)
	if ext, ok := m.External(); ok || m.Protocol() != None {
		t.Errorf("lifetime over without a renewal: still %v by %v", ext, m.Protocol())
	}
	// After expiry the mapper asks again only every 30 s: a dead gateway costs little.
	n := len(g.requests())
	time.Sleep(2500 * time.Millisecond)
	if more := len(g.requests()) - n; more != 0 {
		t.Errorf("%d requests within 2.5 s after the mapping expired, want none (30 s apart)", more)
	}
}

func TestNoPort(t *testing.T) {
	m := Start(context.Background(), Config{Gateway: netip.MustParseAddr("127.0.0.1")})
	<-m.Ready()
	if !errors.Is(m.Err(), ErrNoPort) {
		t.Errorf("err %v, want ErrNoPort", m.Err())
	}
	_ = m.Close()
}
