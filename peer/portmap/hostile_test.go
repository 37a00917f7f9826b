package portmap

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gateway plays a PCP/NAT-PMP gateway on loopback: answer turns each request into
// the datagrams it sends back (from the gateway's address, or, when forge is set,
// from another socket, as an off-path attacker would).
type gateway struct {
	conn, forger *net.UDPConn
	answer       func(req []byte) [][]byte
	forge        bool

	mu   sync.Mutex
	reqs [][]byte
}

func newGateway(t *testing.T, answer func(req []byte) [][]byte, forge bool) *gateway {
	t.Helper()
	g := &gateway{answer: answer, forge: forge}
	for _, c := range []**net.UDPConn{&g.conn, &g.forger} {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		*c = conn
		t.Cleanup(func() { conn.Close() })
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := g.conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			req := append([]byte(nil), buf[:n]...)
			g.mu.Lock()
			g.reqs = append(g.reqs, req)
			g.mu.Unlock()
			out := g.conn
			if g.forge {
				out = g.forger
			}
			for _, b := range g.answer(req) {
				_, _ = out.WriteToUDPAddrPort(b, from)
			}
		}
	}()
	return g
}

func (g *gateway) requests() [][]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([][]byte(nil), g.reqs...)
}

func (g *gateway) config(protocols ...Protocol) Config {
	return Config{Port: 4242, Gateway: netip.MustParseAddr("127.0.0.1"), Protocols: protocols,
		Timeout: 300 * time.Millisecond, pmpPort: uint16(g.conn.LocalAddr().(*net.UDPAddr).Port)}
}

var public = netip.MustParseAddrPort("11.0.0.2:5000")

// pcpFor answers a PCP MAP request with its own nonce and port, as a gateway does.
func pcpFor(req []byte, ext netip.AddrPort, lifetime uint32, result byte) []byte {
	if len(req) < pcpMapLen || req[0] != pcpVersion {
		return []byte{0, 0x81, 0, 1, 0, 0, 0, 0} // a NAT-PMP server's "unsupported version"
	}
	return pcpReply([12]byte(req[24:36]), binary.BigEndian.Uint16(req[40:42]), ext, lifetime, result)
}

// natpmpFor answers NAT-PMP requests: address ext, mapping with this lifetime.
func natpmpFor(req []byte, ext netip.AddrPort, lifetime uint32) []byte {
	if len(req) == 2 && req[1] == 0 {
		a := ext.Addr().As4()
		return append([]byte{0, 128, 0, 0, 0, 0, 0, 1}, a[:]...)
	}
	if len(req) == 12 && req[1] == 1 {
		b := []byte{0, 129, 0, 0, 0, 0, 0, 1, req[4], req[5], 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint16(b[10:12], ext.Port())
		binary.BigEndian.PutUint32(b[12:16], lifetime)
		return b
	}
	return nil
}

// TestHostileGateway: answers that are junk, forged, for another request, or out of
// bounds give an error and no mapping; a good answer among junk still counts.
func TestHostileGateway(t *testing.T) {
	pcpOnly := func(f func(req []byte) [][]byte) func(req []byte) [][]byte {
		return func(req []byte) [][]byte {
			if len(req) >= 1 && req[0] == pcpVersion {
				return f(req)
			}
			return nil
		}
	}
	for _, tc := range []struct {
		name      string
		answer    func(req []byte) [][]byte
		forge     bool
		protocols []Protocol
		want      error
		proto     Protocol
	}{
		{"good", pcpOnly(func(r []byte) [][]byte { return [][]byte{pcpFor(r, public, 7200, 0)} }), false, nil, nil, PCP},
		{"junk first", pcpOnly(func(r []byte) [][]byte {
			other := append([]byte(nil), r...)
			other[30] ^= 0xff
			return [][]byte{{1, 2, 3}, make([]byte, 60), pcpFor(other, public, 7200, 0), pcpFor(r, public, 7200, 0)}
		}), false, nil, nil, PCP},
		{"another nonce only", pcpOnly(func(r []byte) [][]byte {
			other := append([]byte(nil), r...)
			other[30] ^= 0xff
			return [][]byte{pcpFor(other, public, 7200, 0)}
		}), false, []Protocol{PCP}, ErrTimeout, None},
		{"first request lost", func() func(r []byte) [][]byte {
			var n atomic.Int32
			return pcpOnly(func(r []byte) [][]byte {
				if n.Add(1) == 1 {
					return nil
				}
				return [][]byte{pcpFor(r, public, 7200, 0)}
			})
		}(), false, nil, nil, PCP},
		{"forged source", pcpOnly(func(r []byte) [][]byte { return [][]byte{pcpFor(r, public, 7200, 0)} }), true, []Protocol{PCP}, ErrTimeout, None},
		{"lifetime 1 s", pcpOnly(func(r []byte) [][]byte { return [][]byte{pcpFor(r, public, 1, 0)} }), false, []Protocol{PCP}, ErrAbsurd, None},
		{"lifetime 100 years", pcpOnly(func(r []byte) [][]byte { return [][]byte{pcpFor(r, public, 3_153_600_000, 0)} }), false, []Protocol{PCP}, ErrAbsurd, None},
		{"port 0", pcpOnly(func(r []byte) [][]byte { return [][]byte{pcpFor(r, netip.AddrPortFrom(public.Addr(), 0), 7200, 0)} }), false, []Protocol{PCP}, ErrAbsurd, None},
		{"private external", pcpOnly(func(r []byte) [][]byte {
			return [][]byte{pcpFor(r, netip.MustParseAddrPort("100.64.0.9:5000"), 7200, 0)}
		}), false, []Protocol{PCP}, ErrNotPublic, None},
		{"refused", pcpOnly(func(r []byte) [][]byte { return [][]byte{pcpFor(r, public, 7200, 8)} }), false, []Protocol{PCP}, ErrRefused, None},
		{"NAT-PMP only gateway", func(r []byte) [][]byte {
			if r[0] == pcpVersion {
				return [][]byte{pcpFor(nil, public, 0, 0)}
			}
			return [][]byte{natpmpFor(r, public, 3600)}
		}, false, []Protocol{PCP, NATPMP}, nil, NATPMP},
		{"NAT-PMP absurd lifetime", func(r []byte) [][]byte { return [][]byte{natpmpFor(r, public, 0)} }, false, []Protocol{NATPMP}, ErrAbsurd, None},
		{"NAT-PMP wrong port echoed", func(r []byte) [][]byte {
			b := natpmpFor(r, public, 3600)
			if len(b) == 16 {
				b[9]++
			}
			return [][]byte{b}
		}, false, []Protocol{NATPMP}, ErrTimeout, None},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t, tc.answer, tc.forge)
			cfg := g.config(tc.protocols...)
			if tc.protocols == nil {
				cfg.Protocols = []Protocol{PCP}
			}
			m := Start(context.Background(), cfg)
			<-m.Ready()
			ext, ok := m.External()
			if tc.want == nil {
				if !ok || ext != public || m.Protocol() != tc.proto || m.Err() != nil {
					t.Fatalf("got %v %v by %v (err %v), want %v by %v", ext, ok, m.Protocol(), m.Err(), public, tc.proto)
				}
			} else if ok || m.Protocol() != None || !errors.Is(m.Err(), tc.want) {
				t.Fatalf("got %v %v by %v (err %v), want no mapping and %v", ext, ok, m.Protocol(), m.Err(), tc.want)
			}
			if tc.want == ErrTimeout && !strings.Contains(m.Err().Error(), "ignored: ") && !tc.forge {
				t.Errorf("error %q does not say what was ignored", m.Err())
			}
			_ = m.Close()
			if tc.want == ErrNotPublic {
				last := g.requests()[len(g.requests())-1]
				if binary.BigEndian.Uint32(last[4:8]) != 0 {
					t.Error("the useless mapping behind a private address was not deleted")
				}
			}
		})
	}
}

// TestCloseReleases: Close sends a deletion with the mapping's nonce and logs it.
func TestCloseReleases(t *testing.T) {
	g := newGateway(t, func(r []byte) [][]byte { return [][]byte{pcpFor(r, public, 7200, 0)} }, false)
	var logs syncBuffer
	cfg := g.config(PCP)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	m := Start(context.Background(), cfg)
	<-m.Ready()
	if _, ok := m.External(); !ok {
		t.Fatalf("no mapping: %v", m.Err())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	reqs := g.requests()
	first, last := reqs[0], reqs[len(reqs)-1]
	if len(reqs) < 2 || binary.BigEndian.Uint32(last[4:8]) != 0 || [12]byte(last[24:36]) != [12]byte(first[24:36]) {
		t.Errorf("last request is not a deletion of the mapping: % x", last)
	}
	if _, ok := m.External(); ok {
		t.Error("External still reports the mapping after Close")
	}
	if out := logs.String(); !strings.Contains(out, `msg="portmap: released" port=4242 protocol=PCP`) || strings.Contains(out, "failed") {
		t.Errorf("log:\n%s", out)
	}
}

// TestReleaseLogged: the log says whether the gateway took the deletion; a gateway
// that ignores it gets a warning that the mapping lives on until its lifetime ends.
func TestReleaseLogged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		proto  Protocol
		delete bool // the gateway answers the deletion
	}{{"PCP ignored", PCP, false}, {"NAT-PMP ignored", NATPMP, false}, {"NAT-PMP taken", NATPMP, true}} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t, func(r []byte) [][]byte {
				switch {
				case r[0] == pcpVersion && binary.BigEndian.Uint32(r[4:8]) == 0, len(r) == 12 && !tc.delete && binary.BigEndian.Uint32(r[8:12]) == 0:
					return nil
				case r[0] == pcpVersion:
					return [][]byte{pcpFor(r, public, 7200, 0)}
				}
				return [][]byte{natpmpFor(r, public, 7200)}
			}, false)
			var logs syncBuffer
			cfg := g.config(tc.proto)
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			m := Start(context.Background(), cfg)
			<-m.Ready()
			_ = m.Close()
			out := logs.String()
			if failed := strings.Contains(out, "release failed"); failed == tc.delete || strings.Contains(out, `msg="portmap: released"`) != tc.delete {
				t.Errorf("log:\n%s", out)
			}
		})
	}
}

// TestDefaults: no protocol list means PCP first; no timeout means 500 ms a protocol;
// a gateway that cannot be looked up is an error.
func TestDefaults(t *testing.T) {
	g := newGateway(t, func(r []byte) [][]byte { return [][]byte{pcpFor(r, public, 7200, 0)} }, false)
	cfg := g.config()
	cfg.Protocols = nil
	m := Start(context.Background(), cfg)
	<-m.Ready()
	if m.Protocol() != PCP {
		t.Errorf("default order mapped by %v (%v), want PCP", m.Protocol(), m.Err())
	}
	_ = m.Close()

	silent := newGateway(t, func([]byte) [][]byte { return nil }, false)
	cfg = silent.config(PCP)
	cfg.Timeout = 0
	start := time.Now()
	m = Start(context.Background(), cfg)
	<-m.Ready()
	if took := time.Since(start); took < 450*time.Millisecond || took > 1500*time.Millisecond || !errors.Is(m.Err(), ErrTimeout) {
		t.Errorf("silent gateway with the default timeout: %v after %v, want ErrTimeout after about 500 ms", m.Err(), took)
	}
	_ = m.Close()

	boom := errors.New("no namespace")
	var calls atomic.Int32
	m = Start(context.Background(), Config{Port: 4242, Within: func(func() error) error { calls.Add(1); return boom }})
	<-m.Ready()
	if !errors.Is(m.Err(), boom) || calls.Load() != 1 {
		t.Errorf("gateway lookup failure: %v after %d tries, want %v at once", m.Err(), calls.Load(), boom)
	}
	_ = m.Close()
}

// syncBuffer is a bytes.Buffer safe for the mapper's goroutine writing while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
