package nat

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/stun"

	"github.com/kithnet/kith/shared/natlab"
	"github.com/kithnet/kith/shared/testenv"
)

// coturn is a turnserver process started for one test.
type coturn struct {
	addr   netip.AddrPort
	secret string
}

// startCoturn starts coturn's turnserver on a free loopback port with REST
// credentials (use-auth-secret) and loopback peers allowed, and stops it when t ends.
func startCoturn(t *testing.T) *coturn {
	t.Helper()
	bin := testenv.Command(t, "turnserver", "coturn")
	probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	free, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := free.LocalAddr().(*net.UDPAddr).Port
	free.Close() // turnserver takes the port
	c := newCoturn(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)))
	var log bytes.Buffer
	cmd := exec.Command(bin, append(c.args(t.TempDir()), "--allow-loopback-peers")...)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start turnserver: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("turnserver log:\n%s", log.String())
		}
	})
	c.waitReady(t, probe)
	return c
}

// startCoturnIn starts turnserver inside a lab node on port 3479, relaying from the
// node's address, and returns it once it answers STUN.
func startCoturnIn(t testing.TB, n *natlab.Node) *coturn {
	t.Helper()
	testenv.Command(t, "turnserver", "coturn")
	c := newCoturn(netip.AddrPortFrom(n.Addr, 3479))
	n.Start(t, "turnserver", c.args(t.TempDir())...)
	probe, err := n.ListenUDP(":0")
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	c.waitReady(t, probe)
	return c
}

func newCoturn(addr netip.AddrPort) *coturn {
	return &coturn{addr: addr, secret: "test-secret-" + strconv.Itoa(int(addr.Port()))}
}

// args are turnserver's arguments: no config file, UDP only on c.addr, relaying from
// its address, REST credentials with c.secret, state in dir.
func (c *coturn) args(dir string) []string {
	ip, port := c.addr.Addr().String(), strconv.Itoa(int(c.addr.Port()))
	return []string{"-n", "--listening-ip", ip, "--listening-port", port, "--relay-ip", ip,
		"--use-auth-secret", "--static-auth-secret", c.secret, "--realm", "kith.test",
		"--no-cli", "--no-tls", "--no-dtls", "--no-tcp",
		"--userdb", dir + "/turndb", "--pidfile", dir + "/turnserver.pid", "--log-file", "stdout", "--simple-log"}
}

// waitReady waits up to 5 s until the server answers a STUN binding from probe.
func (c *coturn) waitReady(t testing.TB, probe *net.UDPConn) {
	t.Helper()
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest).Raw
	buf := make([]byte, 1500)
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
		_, _ = probe.WriteToUDPAddrPort(req, c.addr)
		_ = probe.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, _, err := probe.ReadFrom(buf); err == nil && stun.IsMessage(buf[:n]) {
			return
		}
	}
	t.Fatalf("turnserver on %s did not answer STUN within 5s", c.addr)
}

// credentials makes the TURN REST credentials the rendezvous hands out.
func (c *coturn) credentials(fingerprint string, expiry time.Time) (user, pass string) {
	user = fmt.Sprintf("%d:%s", expiry.Unix(), fingerprint)
	mac := hmac.New(sha1.New, []byte(c.secret))
	mac.Write([]byte(user))
	return user, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func (c *coturn) config(user, pass string) TURNConfig {
	return TURNConfig{Server: c.addr, Username: user, Password: pass}
}

// TestTURNAgainstCoturn allocates on a real coturn from the shared socket, runs QUIC
// to a friend through the relay while the same socket still does STUN, and checks
// that wrong or expired credentials are refused.
func TestTURNAgainstCoturn(t *testing.T) {
	srv := startCoturn(t)
	user, pass := srv.credentials("fingerprintoftheallocatingpeer", time.Now().Add(time.Hour))

	t.Run("relay on the shared socket carries QUIC", func(t *testing.T) {
		a, friend := newMux(t), newMux(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		relay, err := a.AllocateTURN(ctx, srv.config(user, pass))
		if err != nil {
			t.Fatal(err)
		}
		defer relay.Close()
		if relay.Addr.Addr() != srv.addr.Addr() || relay.Addr.Port() == srv.addr.Port() {
			t.Errorf("relayed address %s, want a relay port on %s", relay.Addr, srv.addr.Addr())
		}
		// The TURN server's answers to our own Binding still reach Binding.
		if got, err := a.Binding(ctx, srv.addr); err != nil || got != a.LocalAddr() {
			t.Errorf("Binding to the TURN server while allocated = %s, %v; want %s", got, err, a.LocalAddr())
		}
		// QUIC: the friend serves on its own socket, we dial through the relay. The
		// friend's answers go to relay.Addr, which coturn forwards to us.
		if err := quicEcho(t, friend.PacketConn(), relay.Conn, net.UDPAddrFromAddrPort(friend.LocalAddr())); err != nil {
			t.Fatalf("QUIC through the relay: %v", err)
		}
	})

	t.Run("relay on its own socket", func(t *testing.T) {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		relay, err := AllocateTURN(ctx, conn, srv.config(user, pass))
		if err != nil {
			t.Fatal(err)
		}
		defer relay.Close()
		peer, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		defer peer.Close()
		if _, err := relay.Conn.WriteTo([]byte("via relay"), peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		_ = peer.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, from, err := peer.ReadFromUDPAddrPort(buf)
		if err != nil || string(buf[:n]) != "via relay" || unmap(from) != relay.Addr {
			t.Errorf("peer got %q from %s (%v); want \"via relay\" from the relay %s", buf[:n], from, err, relay.Addr)
		}
	})

	for _, tc := range []struct {
		name       string
		user, pass string
	}{
		{"wrong password", user, pass + "x"},
		{"expired", func() string { u, _ := srv.credentials("fp", time.Now().Add(-time.Minute)); return u }(),
			func() string { _, p := srv.credentials("fp", time.Now().Add(-time.Minute)); return p }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newMux(t)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			relay, err := a.AllocateTURN(ctx, srv.config(tc.user, tc.pass))
			if err == nil {
				relay.Close()
				t.Fatal("allocation succeeded")
			}
			if !strings.Contains(err.Error(), "401") && !strings.Contains(strings.ToLower(err.Error()), "unauthorized") {
				t.Errorf("error %q does not say the credentials were refused", err)
			}
		})
	}
}

// TestPermitAll: one CreatePermission request lets every address given in through the
// relay (real coturn), and no other.
func TestPermitAll(t *testing.T) {
	srv := startCoturn(t)
	user, pass := srv.credentials("fingerprintoftheallocatingpeer", time.Now().Add(time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	relay, err := newMux(t).AllocateTURN(ctx, srv.config(user, pass))
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	peers := map[string]*net.UDPConn{}
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		peers[ip] = c
	}
	addr := func(ip string) netip.AddrPort { return unmap(peers[ip].LocalAddr().(*net.UDPAddr).AddrPort()) }
	if err := relay.PermitAll([]netip.AddrPort{addr("127.0.0.2"), addr("127.0.0.3")}); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	buf := make([]byte, 100)
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end) && len(got) < 3; {
		for ip, c := range peers {
			_, _ = c.WriteToUDPAddrPort([]byte("hello from "+ip), relay.Addr)
		}
		_ = relay.Conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		for {
			n, from, err := relay.Conn.ReadFrom(buf)
			if err != nil {
				break
			}
			got[from.(*net.UDPAddr).IP.String()] = string(buf[:n]) == "hello from "+from.(*net.UDPAddr).IP.String()
		}
	}
	if !got["127.0.0.2"] || !got["127.0.0.3"] {
		t.Errorf("through the relay came %v; want both permitted peers", got)
	}
	if _, ok := got["127.0.0.4"]; ok {
		t.Error("a peer outside the permission reached us through the relay")
	}
	if err := relay.PermitAll(nil); err != nil {
		t.Errorf("PermitAll of nothing: %v", err)
	}
}

// delayedPath forwards datagrams between one client and server, delay each way: a far
// TURN server for a client on loopback. The address it returns stands for the server.
func delayedPath(t *testing.T, server netip.AddrPort, delay time.Duration) netip.AddrPort {
	t.Helper()
	front, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { front.Close(); back.Close() })
	var client atomic.Pointer[netip.AddrPort]
	forward := func(from, to *net.UDPConn, dst func() *netip.AddrPort) {
		buf := make([]byte, 2048)
		for {
			n, src, err := from.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if from == front {
				client.Store(&src)
			}
			b := append([]byte(nil), buf[:n]...)
			time.AfterFunc(delay, func() {
				if d := dst(); d != nil {
					_, _ = to.WriteToUDPAddrPort(b, *d)
				}
			})
		}
	}
	go forward(front, back, func() *netip.AddrPort { return &server })
	go forward(back, front, client.Load)
	return unmap(front.LocalAddr().(*net.UDPAddr).AddrPort())
}

// TestRelayWritesAtOnce: to a peer Permit let in, the first datagrams leave at once
// (our own Send indications) rather than after pion's CreatePermission round trip to
// the server, and the later ones reach the peer too (over pion's channel). The TURN
// server (real coturn) is 100 ms away each way: a datagram relayed at once reaches the
// peer about 100 ms after it was written, one that waited for pion's permission 300.
func TestRelayWritesAtOnce(t *testing.T) {
	const delay = 100 * time.Millisecond
	srv := startCoturn(t)
	user, pass := srv.credentials("fingerprintoftheallocatingpeer", time.Now().Add(time.Hour))
	cfg := srv.config(user, pass)
	cfg.Server = delayedPath(t, srv.addr, delay)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	relay, err := newMux(t).AllocateTURN(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	to := peer.LocalAddr()
	if err := relay.Permit(unmap(peer.LocalAddr().(*net.UDPAddr).AddrPort())); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	buf := make([]byte, 100)
	read := func(want string, within time.Duration) {
		t.Helper()
		_ = peer.SetReadDeadline(time.Now().Add(within))
		for !got[want] {
			n, from, err := peer.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("%q did not reach the peer within %v (got %v)", want, within, got)
			}
			if unmap(from) != relay.Addr {
				t.Fatalf("the peer got a datagram from %s, not from the relay %s", from, relay.Addr)
			}
			got[string(buf[:n])] = true
		}
	}
	start := time.Now()
	for _, m := range []string{"first", "second"} {
		if n, err := relay.Conn.WriteTo([]byte(m), to); err != nil || n != len(m) {
			t.Fatalf("WriteTo(%q) = %d, %v; want %d, nil", m, n, err, len(m))
		}
	}
	read("first", 2*delay+delay/2)
	read("second", delay)
	if d := time.Since(start); d > 2*delay+delay/2 {
		t.Errorf("the first datagrams reached a permitted peer after %v: they waited for a permission round trip", d)
	}
	// Later datagrams go by pion, once its permission and channel exist.
	time.Sleep(4 * delay)
	if _, err := relay.Conn.WriteTo([]byte("third"), to); err != nil {
		t.Fatal(err)
	}
	read("third", 4*delay)
	// A peer not let in goes pion's way: its own permission first.
	other, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 3)})
	defer other.Close()
	if _, err := relay.Conn.WriteTo([]byte("fourth"), other.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = other.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, _, err := other.ReadFrom(buf); err != nil || string(buf[:n]) != "fourth" {
		t.Errorf("a peer pion let in itself got %q, %v", buf[:n], err)
	}
}
