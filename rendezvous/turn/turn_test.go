package turn_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	pturn "github.com/pion/turn/v2"

	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/rendezvous/turn"
	"github.com/kithnet/kith/shared/testenv"
)

func TestPeerAllowed(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"8.8.8.8", true}, {"2001:4860::8888", true}, {"198.51.100.7", true}, {"100.128.0.1", true},
		{"127.0.0.1", false}, {"::1", false}, {"10.1.2.3", false}, {"172.16.0.1", false},
		{"192.168.1.1", false}, {"100.64.0.1", false}, {"100.127.255.255", false},
		{"169.254.1.1", false}, {"fe80::1", false}, {"224.0.0.1", false}, {"ff02::1", false},
		{"0.0.0.0", false}, {"::", false}, {"255.255.255.255", false}, {"fd00::1", false},
		{"::ffff:127.0.0.1", false}, {"::ffff:10.0.0.1", false}, {"0.1.2.3", false},
	} {
		err := turn.PeerAllowed(netip.MustParseAddr(tc.ip))
		if (err == nil) != tc.want {
			t.Errorf("PeerAllowed(%s) = %v, want allowed=%v", tc.ip, err, tc.want)
		}
	}
}

func TestCredentials(t *testing.T) {
	// The vector is `printf 1700000000:alice | openssl dgst -sha1 -hmac secret -binary | base64`.
	user, pass := turn.Credentials("secret", "alice", time.Unix(1700000000, 0))
	if user != "1700000000:alice" || pass != "d8soP47RbdIKLDUOpnJPVQyq5Ts=" {
		t.Fatalf("Credentials = %q, %q", user, pass)
	}
	if _, err := turn.ParseUsername(user, time.Unix(1700000000, 0)); !errors.Is(err, turn.ErrExpired) {
		t.Errorf("at expiry: got %v, want ErrExpired", err)
	}
	if u, err := turn.ParseUsername(user, time.Unix(1699999999, 0)); err != nil || u != "alice" {
		t.Errorf("before expiry: got %q, %v", u, err)
	}
	for _, bad := range []string{"alice", "x:alice", ":alice", "-5:alice"} {
		if _, err := turn.ParseUsername(bad, time.Now()); !errors.Is(err, turn.ErrBadUsername) {
			t.Errorf("ParseUsername(%q) = %v, want ErrBadUsername", bad, err)
		}
	}
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCoturnStunclient(t *testing.T) {
	bin := testenv.Command(t, "turnutils_stunclient", "coturn")
	srv := rendezvoustest.Start(t, rendezvous.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-p", port(t, srv.STUN), "127.0.0.1").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "UDP reflexive addr: 127.0.0.1:") {
		t.Fatalf("turnutils_stunclient: %v\n%s\nwant a reflexive address 127.0.0.1:port", err, out)
	}
}

// startPeer runs coturn's turnutils_peer (a UDP echo) on a free loopback port.
func startPeer(t *testing.T) string {
	t.Helper()
	bin := testenv.Command(t, "turnutils_peer", "coturn")
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port)
	pc.Close()
	cmd := exec.Command(bin, "-L", "127.0.0.1", "-p", p)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	time.Sleep(100 * time.Millisecond) // let it bind
	return p
}

// uclient runs turnutils_uclient with a REST secret, sending 5 messages to the peer.
func uclient(t *testing.T, secret, stunPort, peerPort string) (string, error) {
	t.Helper()
	bin := testenv.Command(t, "turnutils_uclient", "coturn")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-W", secret, "-u", "peer-fingerprint",
		"-e", "127.0.0.1", "-r", peerPort, "-p", stunPort, "-n", "5", "-c", "127.0.0.1").CombinedOutput()
	return string(out), err
}

func TestCoturnUclientRelays(t *testing.T) {
	peerPort := startPeer(t)
	// Relaying to 127.0.0.1 needs --turn-allow-private; the policy itself is tested below.
	srv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNAllowPrivate: true})
	out, err := uclient(t, "s3cret", port(t, srv.STUN), peerPort)
	if err == nil && strings.Contains(out, "tot_recv_msgs=5") {
		t.Fatalf("turnutils_uclient relayed without connecting to anyone:\n%s", out)
	}
	connectTo(t, srv, "127.0.0.1:"+peerPort)
	out, err = uclient(t, "s3cret", port(t, srv.STUN), peerPort)
	if err != nil || !strings.Contains(out, "tot_send_msgs=5, tot_recv_msgs=5") || !strings.Contains(out, "Total lost packets 0") {
		t.Fatalf("turnutils_uclient -W <secret>: %v\n%s\nwant 5 messages relayed and echoed, none lost", err, out)
	}
	out, err = uclient(t, "wrong-secret", port(t, srv.STUN), peerPort)
	if err == nil || strings.Contains(out, "tot_recv_msgs=5") {
		t.Fatalf("turnutils_uclient with a wrong secret was not refused: %v\n%s", err, out)
	}
}

func TestCoturnUclientPrivatePeerRefused(t *testing.T) {
	peerPort := startPeer(t)
	srv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret"})
	connectTo(t, srv, "127.0.0.1:"+peerPort)
	out, err := uclient(t, "s3cret", port(t, srv.STUN), peerPort)
	if err == nil || strings.Contains(out, "tot_recv_msgs=5") {
		t.Fatalf("relay to 127.0.0.1 was not refused by default: %v\n%s", err, out)
	}
}

// client allocates a relay on addr as user (credentials from secret).
func client(t *testing.T, addr, secret, user string) (*pturn.Client, net.PacketConn, error) {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	u, p := turn.Credentials(secret, user, time.Now().Add(time.Hour))
	c, err := pturn.NewClient(&pturn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn, Username: u, Password: p,
		Realm: "kith", LoggerFactory: logging.NewDefaultLoggerFactory(), RTO: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := c.Allocate()
	if err == nil {
		t.Cleanup(func() { relay.Close() })
	}
	return c, relay, err
}

func TestPrivatePeerRefusedByDefault(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret"})
	connectTo(t, srv, "127.0.0.1:9", "10.0.0.1:9", "192.168.0.1:9", "100.64.0.1:9", "169.254.0.1:9", "198.51.100.7:9")
	_, relay, err := client(t, srv.STUN, "s3cret", "alice")
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	for _, peer := range []string{"127.0.0.1:9", "10.0.0.1:9", "192.168.0.1:9", "100.64.0.1:9", "169.254.0.1:9"} {
		if _, err := relay.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(peer))); err == nil {
			t.Errorf("relay to %s was permitted; want refused by default", peer)
		}
	}
	if _, err := relay.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(198, 51, 100, 7), Port: 9}); err != nil {
		t.Errorf("relay to a public address was refused: %v", err)
	}
}

func TestAllocationQuota(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNQuota: 2, TURNPerIP: 10})
	connectTo(t, srv, "198.51.100.7:9")
	for i := range 2 {
		if _, _, err := client(t, srv.STUN, "s3cret", "alice"); err != nil {
			t.Fatalf("allocation %d within quota: %v", i+1, err)
		}
	}
	if _, _, err := client(t, srv.STUN, "s3cret", "alice"); err == nil {
		t.Fatal("third allocation for alice was granted; want refused by the quota of 2")
	}
	if _, _, err := client(t, srv.STUN, "s3cret", "bob"); err != nil {
		t.Fatalf("bob's allocation refused by alice's quota: %v", err)
	}
	if _, _, err := client(t, srv.STUN, "wrong", "carol"); err == nil {
		t.Fatal("allocation with a wrong secret was granted")
	}
}

// FuzzParseUsername checks the REST username parser never panics and that the user it
// returns is everything after the first colon.
func FuzzParseUsername(f *testing.F) {
	f.Add("1700000000:alice")
	f.Add("x:")
	f.Add(":::")
	f.Fuzz(func(t *testing.T, s string) {
		now := time.Unix(1, 0)
		user, err := turn.ParseUsername(s, now)
		if err != nil {
			return
		}
		if _, rest, _ := strings.Cut(s, ":"); rest != user {
			t.Fatalf("ParseUsername(%q) = %q, want %q", s, user, rest)
		}
	})
}
