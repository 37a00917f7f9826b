package nat

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/natlab"
)

// birthdayHard is the hard side of the birthday method as peer/reach runs it: n extra
// sockets in host, each sending a low-TTL opener towards the easy side's public
// address and answering the spray. It returns the first socket's path, or an error.
func birthdayHard(t *testing.T, lab *natlab.Lab, host string, n int, nonce []byte, towards netip.AddrPort, ttl int, timeout time.Duration) (Path, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	hits := make(chan Path, n)
	var wg sync.WaitGroup
	for range n {
		conn, err := lab.Host(host).ListenUDP(":0")
		if err != nil {
			t.Fatal(err)
		}
		m := muxOn(t, conn)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p, err := m.Punch(ctx, PunchConfig{Nonce: nonce, Candidates: []netip.AddrPort{towards}, Timeout: timeout,
				Interval: time.Second, OpenerTTL: ttl}); err == nil {
				hits <- p
			}
		}()
	}
	defer wg.Wait()
	select {
	case p := <-hits:
		cancel()
		return p, nil
	case <-ctx.Done():
		return Path{}, ErrNoPath
	}
}

// TestBirthdayThroughSymmetricNAT: a host behind a symmetric NAT opens 256 sockets
// with low-TTL openers towards a port-restricted peer's public address; the peer's
// spray to random ports of the symmetric NAT's IP reaches one of them, both ways, with
// and without input firewalls on the routers, from a plain IPv4 socket and from a
// dual-stack one. Without the spare sockets (the control) the same spray finds nothing.
func TestBirthdayThroughSymmetricNAT(t *testing.T) {
	lab := natlab.New(t, natlab.Config{Public: []string{"rv"}, Homes: []natlab.Home{
		{Name: "bso", NAT: natlab.Symmetric, NoInputFirewall: true},
		{Name: "bpo", NAT: natlab.PortRestricted, NoInputFirewall: true},
		{Name: "bsf", NAT: natlab.Symmetric},
		{Name: "bpf", NAT: natlab.PortRestricted},
	}})
	stunServer := startReflector(t, lab)
	for _, tc := range []struct {
		name      string
		hard, eas string
		spares    int
		dual      bool // the easy side's socket is dual-stack, as the daemon's
		direct    bool
	}{
		{"symmetric-port-restricted/open-routers", "bso", "bpo", 256, false, true},
		{"symmetric-port-restricted/firewalled-routers", "bsf", "bpf", 256, false, true},
		{"symmetric-port-restricted/open-routers/dual-stack-socket", "bso", "bpo", 256, true, true},
		{"symmetric-port-restricted/open-routers/no-spares", "bso", "bpo", 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			easy := newLabPeer(t, lab, tc.eas, stunServer)
			if tc.dual {
				var conn *net.UDPConn
				if err := lab.Host(tc.eas).Do(func() (err error) {
					conn, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6unspecified})
					return err
				}); err != nil {
					t.Fatal(err)
				}
				m := muxOn(t, conn)
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				srflx, err := m.Binding(ctx, stunServer)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				easy = &labPeer{name: tc.eas, mux: m, candidates: []netip.AddrPort{m.LocalAddr(), srflx}}
			}
			hardIP := lab.Host(tc.hard).Public
			nonce := NewNonce()
			var hp Path
			var he error
			done := make(chan struct{})
			go func() {
				defer close(done)
				if tc.spares == 0 {
					he = ErrNoPath
					return
				}
				hp, he = birthdayHard(t, lab, tc.hard, tc.spares, nonce, easy.candidates[1], OpenerTTL(1), 4*time.Second)
			}()
			start := time.Now()
			ep, ee := easy.mux.Punch(context.Background(), PunchConfig{Nonce: nonce, Timeout: 3 * time.Second,
				Spray: Spray{Addr: hardIP, Count: 2048, After: 300 * time.Millisecond}})
			<-done
			t.Logf("%s: easy %+v %v after %v; hard %+v %v", tc.name, ep, ee, time.Since(start).Round(time.Millisecond), hp, he)
			if got := ee == nil && he == nil; got != tc.direct {
				t.Fatalf("%s: direct = %v, want %v (easy: %v, hard: %v)", tc.name, got, tc.direct, ee, he)
			}
			if !tc.direct {
				return
			}
			if ep.Remote.Addr() != hardIP || !ep.PeerReflexive {
				t.Errorf("%s: the easy side reached %v (peer-reflexive %v), want a port of %s", tc.name, ep.Remote, ep.PeerReflexive, hardIP)
			}
			if hp.Remote != easy.candidates[1] {
				t.Errorf("%s: the hard side reached %v, want the easy side's reflexive %v", tc.name, hp.Remote, easy.candidates[1])
			}
		})
	}
}
