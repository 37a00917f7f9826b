package nat

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/testenv"
)

// WriteTTL sets the TTL or hop limit per packet on IPv4, IPv6 and dual-stack sockets
// (a v4 destination on a v6 socket goes as a mapped address): a punch between two
// Muxes whose callee sends openers completes on each family.
func TestWriteTTLFamilies(t *testing.T) {
	for _, tc := range []struct{ name, network, addr string }{
		{"ipv4", "udp4", "127.0.0.1:0"},
		{"ipv6", "udp6", "[::1]:0"},
		{"dual-stack to ipv4", "udp", "[::]:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mk := func() *Mux {
				c, err := net.ListenUDP(tc.network, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tc.addr)))
				if err != nil {
					testenv.Missing(t, tc.network+" socket ("+err.Error()+")", "an IPv6 loopback (sysctl net.ipv6.conf.lo.disable_ipv6=0)")
				}
				return muxOn(t, c)
			}
			a, b := mk(), mk()
			dst := func(m *Mux) netip.AddrPort {
				if tc.network == "udp" {
					return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), m.LocalAddr().Port())
				}
				return m.LocalAddr()
			}
			// Raw: an opener with a low TTL leaves the socket (loopback delivers it).
			if err := a.WriteTTL([]byte{0x1b, 'k', 'p'}, dst(b), 2); err != nil {
				t.Fatalf("WriteTTL on %s: %v", tc.network, err)
			}
			nonce := NewNonce()
			opened := make(chan struct{})
			var pa Path
			var ea error
			done := make(chan struct{})
			go func() {
				defer close(done)
				<-opened
				pa, ea = a.Punch(context.Background(), PunchConfig{Nonce: nonce, Candidates: []netip.AddrPort{dst(b)}, Timeout: 2 * time.Second})
			}()
			_, eb := b.Punch(context.Background(), PunchConfig{Nonce: nonce, Candidates: []netip.AddrPort{dst(a)}, Timeout: 2 * time.Second,
				OpenerTTL: 2, Opened: func() { close(opened) }})
			<-done
			if ea != nil || eb != nil {
				t.Fatalf("callee-first punch on %s: caller %v, callee %v", tc.network, ea, eb)
			}
			if pa.Remote.Port() != b.LocalAddr().Port() {
				t.Errorf("caller's path %v, want port %d", pa.Remote, b.LocalAddr().Port())
			}
		})
	}
}
