package portmap

import (
	"context"
	"encoding/binary"
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
	if reqs := g.requests(); len(reqs) != 2 {
		t.Errorf("%d requests after 2.5 s of a 4 s lifetime, want the first and one renewal", len(reqs))
	} else {
		first, renew := reqs[0], reqs[1]
		if binary.BigEndian.Uint32(first[4:8]) != 7200 || binary.BigEndian.Uint16(first[42:44]) != 0 {
			t.Errorf("first request % x: want lifetime 7200, no suggested port", first)
		}
		if binary.BigEndian.Uint16(renew[42:44]) != public.Port() || netip.AddrFrom16([16]byte(renew[44:60])).Unmap() != public.Addr() ||
			[12]byte(renew[24:36]) != [12]byte(first[24:36]) {
			t.Errorf("renewal % x: want the first nonce and %s suggested", renew, public)
		}
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

// TestNATPMPRequests: the first request suggests the internal port and asks for the
// configured lifetime; the renewal suggests the port granted.
func TestNATPMPRequests(t *testing.T) {
	g := newGateway(t, func(r []byte) [][]byte { return [][]byte{natpmpFor(r, public, 4)} }, false)
	m := Start(context.Background(), g.config(NATPMP))
	t.Cleanup(func() { _ = m.Close() })
	<-m.Ready()
	if ext, ok := m.External(); !ok || ext != public {
		t.Fatalf("mapping %v %v (%v)", ext, ok, m.Err())
	}
	time.Sleep(2500 * time.Millisecond)
	var maps [][]byte
	for _, r := range g.requests() {
		if len(r) == 12 && r[1] == natpmpOpUDP {
			maps = append(maps, r)
		}
	}
	if len(maps) != 2 {
		t.Fatalf("%d mapping requests in 2.5 s of a 4 s lifetime, want 2", len(maps))
	}
	for i, want := range []uint16{4242, public.Port()} {
		r := maps[i]
		if got := binary.BigEndian.Uint16(r[6:8]); got != want || binary.BigEndian.Uint16(r[4:6]) != 4242 || binary.BigEndian.Uint32(r[8:12]) != 7200 {
			t.Errorf("request %d: % x, want internal 4242, suggested %d, lifetime 7200", i, r, want)
		}
	}
}
