package portmap

import (
	"context"
	"errors"
	"net/netip"
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
	m := Start(context.Background(), g.config(PCP))
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
	mode.Store(2)
	time.Sleep(2500 * time.Millisecond)
	if _, ok := m.External(); !ok || !errors.Is(m.Err(), ErrRefused) {
		t.Errorf("one renewal refused, lifetime not over: mapping %v, err %v; want kept, ErrRefused", ok, m.Err())
	}
	time.Sleep(2500 * time.Millisecond)
	if ext, ok := m.External(); ok || m.Protocol() != None {
		t.Errorf("lifetime over without a renewal: still %v by %v", ext, m.Protocol())
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
