package natlab_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/pion/stun"
	"golang.org/x/sys/unix"

	"github.com/kithnet/kith/shared/natlab"
	"github.com/kithnet/kith/shared/testenv"
)

// kindsLab has a home of every kind, two reflectors and a stranger on the internet.
var kindsLab = natlab.Config{
	Public: []string{"s1", "s2", "x"},
	Homes: []natlab.Home{
		{Name: "pr", NAT: natlab.PortRestricted},
		{Name: "fc", NAT: natlab.FullCone},
		{Name: "sym", NAT: natlab.Symmetric},
		{Name: "dbl", NAT: natlab.PortRestricted, CGN: true},
		{Name: "two", NAT: natlab.PortRestricted, Hosts: []string{"lan1", "lan2"}},
	},
}

// reflector serves STUN on node:port until t ends and returns its address.
func reflector(t *testing.T, n *natlab.Node, port int) netip.AddrPort {
	t.Helper()
	natlab.RunSTUN(t, listen(t, n, port))
	return netip.AddrPortFrom(n.Addr, uint16(port))
}

// listen opens a UDP socket on port (0: any) inside n, closed when t ends.
func listen(t *testing.T, n *natlab.Node, port int) *net.UDPConn {
	t.Helper()
	conn, err := n.ListenUDP(":" + strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// bind sends STUN binding requests from conn to server and returns the reflexive
// address the server saw.
func bind(conn *net.UDPConn, server netip.AddrPort) (netip.AddrPort, error) {
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	buf := make([]byte, 1500)
	for range 4 {
		if _, err := conn.WriteToUDPAddrPort(req.Raw, server); err != nil {
			return netip.AddrPort{}, err
		}
		_ = conn.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
		for {
			n, _, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				break
			}
			m := &stun.Message{Raw: buf[:n]}
			if m.Decode() != nil || m.TransactionID != req.TransactionID {
				continue
			}
			var xor stun.XORMappedAddress
			if err := xor.GetFrom(m); err != nil {
				return netip.AddrPort{}, err
			}
			ip, _ := netip.AddrFromSlice(xor.IP)
			_ = conn.SetReadDeadline(time.Time{})
			return netip.AddrPortFrom(ip.Unmap(), uint16(xor.Port)), nil
		}
	}
	return netip.AddrPort{}, fmt.Errorf("no STUN answer from %s in 1s", server)
}

// receives sends a datagram from `from` to `to` and reports whether conn got it.
func receives(t *testing.T, from *net.UDPConn, to netip.AddrPort, conn *net.UDPConn) bool {
	t.Helper()
	return receivesIn(t, from, to, conn, 400*time.Millisecond)
}

// receivesIn is receives with a wait of d.
func receivesIn(t *testing.T, from *net.UDPConn, to netip.AddrPort, conn *net.UDPConn, d time.Duration) bool {
	t.Helper()
	msg := []byte("unsolicited " + strconv.FormatInt(time.Now().UnixNano(), 36))
	if _, err := from.WriteToUDPAddrPort(msg, to); err != nil {
		t.Fatalf("send to %s: %v", to, err)
	}
	buf := make([]byte, 1500)
	_ = conn.SetReadDeadline(time.Now().Add(d))
	defer conn.SetReadDeadline(time.Time{})
	for {
		n, _, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return false
		}
		if string(buf[:n]) == string(msg) {
			return true
		}
	}
}

// delayedLink delays s2's internet link by delay until t ends, and returns a socket
// on x, one on s2 at port and its address: datagrams from the first to the second
// cross the delayed link.
func delayedLink(t *testing.T, lab *natlab.Lab, delay time.Duration, port int) (from, to *net.UDPConn, dst netip.AddrPort) {
	t.Helper()
	ctx := context.Background()
	if err := lab.SetNetem(ctx, "s2", natlab.Netem{Delay: delay}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lab.SetNetem(ctx, "s2", natlab.Netem{}) })
	return listen(t, lab.Host("x"), 0), listen(t, lab.Host("s2"), port), netip.AddrPortFrom(lab.Host("s2").Addr, uint16(port))
}

// TestNATKinds proves that every kind of NAT the lab makes maps and filters as its
// name claims, with STUN reflectors and a stranger on the lab's internet.
func TestNATKinds(t *testing.T) {
	lab := natlab.New(t, kindsLab)
	s1a := reflector(t, lab.Host("s1"), 3478)
	s1b := reflector(t, lab.Host("s1"), 3479)
	s2 := reflector(t, lab.Host("s2"), 3478)
	stranger := listen(t, lab.Host("x"), 0)
	s1other := listen(t, lab.Host("s1"), 4000)

	for _, tc := range []struct {
		host        string
		independent bool // endpoint-independent mapping
		open        bool // endpoint-independent filtering (full cone)
	}{
		{"pr", true, false},
		{"fc", true, true},
		{"sym", false, false},
		{"dbl", true, false},
		{"lan1", true, false},
	} {
		t.Run(tc.host, func(t *testing.T) {
			h := lab.Host(tc.host)
			conn := listen(t, h, 0)
			var mapped []netip.AddrPort
			for _, s := range []netip.AddrPort{s1a, s1b, s2} {
				m, err := bind(conn, s)
				if err != nil {
					t.Fatalf("%s: STUN to %s: %v", tc.host, s, err)
				}
				if m.Addr() != h.Public {
					t.Errorf("%s: %s saw address %s, want the NAT's public %s", tc.host, s, m.Addr(), h.Public)
				}
				mapped = append(mapped, m)
			}
			same := mapped[0] == mapped[1] && mapped[1] == mapped[2]
			allDiffer := mapped[0] != mapped[1] && mapped[1] != mapped[2] && mapped[0] != mapped[2]
			t.Logf("%s: mapped to %v via %s:3478, %s:3479, %s:3478", tc.host, mapped, s1a.Addr(), s1a.Addr(), s2.Addr())
			if tc.independent && !same {
				t.Errorf("%s: mapping not endpoint-independent: %v", tc.host, mapped)
			}
			if !tc.independent && !allDiffer {
				t.Errorf("%s: symmetric NAT reused a mapping across destinations: %v", tc.host, mapped)
			}
			if got := receives(t, stranger, mapped[0], conn); got != tc.open {
				t.Errorf("%s: unsolicited datagram from a stranger on another address reached the host: %v, want %v", tc.host, got, tc.open)
			}
			if got := receives(t, s1other, mapped[0], conn); got != tc.open {
				t.Errorf("%s: datagram from the reflector's address but another port reached the host: %v, want %v", tc.host, got, tc.open)
			}
		})
	}

	t.Run("double NAT translates twice", func(t *testing.T) {
		testenv.Command(t, "conntrack", "conntrack")
		ctx := context.Background()
		conn := listen(t, lab.Host("dbl"), 0)
		if _, err := bind(conn, s2); err != nil {
			t.Fatal(err)
		}
		router := lab.Host("dbl-nat")
		out, err := lab.Conntrack(ctx, "dbl-cgn")
		if err != nil {
			t.Fatal(err)
		}
		want := "src=" + router.Addr.String() + " dst=" + s2.Addr().String()
		if !strings.Contains(out, want) {
			t.Errorf("CGN's conntrack has no entry %q from the home router's carrier address:\n%s", want, out)
		}
		home, err := lab.Conntrack(ctx, "dbl-nat")
		if err != nil {
			t.Fatal(err)
		}
		if want := "src=" + lab.Host("dbl").Addr.String(); !strings.Contains(home, want) {
			t.Errorf("home router's conntrack has no entry %q:\n%s", want, home)
		}
	})

	t.Run("two hosts behind one NAT", func(t *testing.T) {
		c1, c2 := listen(t, lab.Host("lan1"), 5000), listen(t, lab.Host("lan2"), 5000)
		m1, err1 := bind(c1, s1a)
		m2, err2 := bind(c2, s1a)
		if err1 != nil || err2 != nil {
			t.Fatalf("STUN from behind the shared NAT: %v, %v", err1, err2)
		}
		if m1.Addr() != m2.Addr() || m1 == m2 {
			t.Errorf("two hosts on one port behind one NAT: mapped %s and %s, want one public address, two ports", m1, m2)
		}
		lan2 := netip.AddrPortFrom(lab.Host("lan2").Addr, 5000)
		if !receives(t, c1, lan2, c2) {
			t.Errorf("lan1 cannot reach lan2 on their LAN at %s", lan2)
		}
	})

	t.Run("netem loss, delay and link down", func(t *testing.T) {
		ctx := context.Background()
		conn := listen(t, lab.Host("pr"), 0)
		set := func(n natlab.Netem, nodes ...string) error {
			for _, node := range nodes {
				if err := lab.SetNetem(ctx, node, n); err != nil {
					return err
				}
			}
			return nil
		}
		if err := set(natlab.Netem{Loss: 100}, "s2"); err != nil {
			t.Fatal(err)
		}
		if _, err := bind(conn, s2); err == nil {
			t.Error("STUN answered with 100% loss towards the reflector")
		}
		if err := set(natlab.Netem{}, "s2"); err != nil {
			t.Fatal(err)
		}
		if _, err := bind(conn, s2); err != nil {
			t.Errorf("after removing the loss: %v", err)
		}

		if err := set(natlab.Netem{Delay: 40 * time.Millisecond, Loss: 1}, "pr", "s2"); err != nil {
			t.Fatal(err)
		}
		var rtts []time.Duration
		for range 5 {
			start := time.Now()
			if _, err := bind(conn, s2); err != nil {
				t.Fatal(err)
			}
			rtts = append(rtts, time.Since(start))
		}
		slices.Sort(rtts)
		if rtts[2] < 80*time.Millisecond || rtts[2] > 150*time.Millisecond {
			t.Errorf("median round trip with 40 ms each way: %v (all %v), want 80 ms to 150 ms", rtts[2], rtts)
		}
		if err := set(natlab.Netem{}, "pr", "s2"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := bind(conn, s2); err != nil || time.Since(start) > 40*time.Millisecond {
			t.Errorf("after removing the delay: %v in %v", err, time.Since(start))
		}

		if err := lab.LinkDown(ctx, "pr"); err != nil {
			t.Fatal(err)
		}
		if _, err := bind(conn, s2); err == nil {
			t.Error("STUN answered with the home's internet link down")
		}
		if err := lab.LinkUp(ctx, "pr"); err != nil {
			t.Fatal(err)
		}
		if _, err := bind(conn, s2); err != nil {
			t.Errorf("after link up: %v", err)
		}
	})

	t.Run("delay holds a burst, in order", func(t *testing.T) {
		const delay, burst = 30 * time.Millisecond, 2000
		from, to, dst := delayedLink(t, lab, delay, 4002)
		_ = to.SetReadBuffer(4 << 20)
		sent := make([]time.Time, burst)
		for i := range burst {
			sent[i] = time.Now()
			if _, err := from.WriteToUDPAddrPort(binary.BigEndian.AppendUint32(nil, uint32(i)), dst); err != nil {
				t.Fatal(err)
			}
		}
		buf := make([]byte, 64)
		var late []time.Duration
		for want := range burst {
			_ = to.SetReadDeadline(time.Now().Add(time.Second))
			n, _, err := to.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("datagram %d of %d: %v", want, burst, err)
			}
			got := time.Now()
			if n != 4 || binary.BigEndian.Uint32(buf) != uint32(want) {
				t.Fatalf("datagram %d arrived as %x: the delay reordered or dropped the burst", want, buf[:n])
			}
			if held := got.Sub(sent[want]); held < delay {
				t.Fatalf("datagram %d arrived after %v, want at least %v", want, held, delay)
			} else {
				late = append(late, held-delay)
			}
		}
		slices.Sort(late)
		if med := late[len(late)/2]; med > 20*time.Millisecond {
			t.Errorf("median datagram arrived %v after its delay of %v", med, delay)
		}
	})

	t.Run("delay holds a GSO run whole", func(t *testing.T) {
		const delay, segments, size = 30 * time.Millisecond, 20, 1000
		from, to, dst := delayedLink(t, lab, delay, 4003)
		run := make([]byte, segments*size-300) // the last datagram shorter
		for i := range run {
			run[i] = byte(i / size)
		}
		oob := make([]byte, unix.CmsgSpace(2))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
		h.SetLen(unix.CmsgLen(2))
		binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], size)
		sent := time.Now()
		if _, _, err := from.WriteMsgUDPAddrPort(run, oob, dst); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2*size)
		for i := range segments {
			_ = to.SetReadDeadline(time.Now().Add(time.Second))
			n, _, err := to.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("datagram %d of the run: %v", i, err)
			}
			if held := time.Since(sent); held < delay {
				t.Fatalf("datagram %d of the run arrived after %v, want at least %v", i, held, delay)
			}
			want := run[i*size : min(len(run), (i+1)*size)]
			if !bytes.Equal(buf[:n], want) {
				t.Fatalf("datagram %d of the run: %d bytes of %d, want %d bytes of %d", i, n, buf[0], len(want), want[0])
			}
		}
	})

	t.Run("UDP timeout expires idle mappings", func(t *testing.T) {
		if err := lab.SetUDPTimeout(2 * time.Second); err != nil {
			t.Fatal(err)
		}
		var got []byte
		err := lab.Host("pr-nat").Do(func() (err error) {
			got, err = os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_udp_timeout")
			return err
		})
		if err != nil || strings.TrimSpace(string(got)) != "2" {
			t.Fatalf("nf_conntrack_udp_timeout in pr-nat = %q, %v; want 2", got, err)
		}
		conn := listen(t, lab.Host("pr"), 0)
		server := listen(t, lab.Host("s2"), 4001)
		if _, err := conn.WriteToUDPAddrPort([]byte("open"), netip.AddrPortFrom(lab.Host("s2").Addr, 4001)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		_ = server.SetReadDeadline(time.Now().Add(time.Second))
		_, mapped, err := server.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("server got nothing: %v", err)
		}
		mapped = netip.AddrPortFrom(mapped.Addr().Unmap(), mapped.Port())
		time.Sleep(time.Second)
		if !receives(t, server, mapped, conn) {
			t.Fatal("reply within the timeout was dropped")
		}
		time.Sleep(3500 * time.Millisecond)
		if receives(t, server, mapped, conn) {
			t.Error("reply after 3.5 s idle passed a NAT with a 2 s UDP timeout")
		}
	})
}

// TestCleanup proves a lab's namespaces are gone when its test ends, and that
// leftovers of a dead process are removed while a live lab is not.
func TestCleanup(t *testing.T) {
	var ns string
	t.Run("lab", func(t *testing.T) {
		lab := natlab.New(t, natlab.Config{Public: []string{"p"}})
		ns = lab.Host("p").NS
	})
	if _, err := os.Stat("/run/netns/" + ns); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("namespace %s still there after its test ended (stat: %v)", ns, err)
	}

	lab := natlab.New(t, natlab.Config{Public: []string{"p"}})
	dead := fmt.Sprintf("natlab-%d-abcdef-p", deadPID(t))
	if out, err := lab.Host("p").Exec(context.Background(), "ip", "netns", "add", dead); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { _ = os.Remove("/run/netns/" + dead) })
	if err := natlab.RemoveLeftovers(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/run/netns/" + dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover %s of a dead process was not removed", dead)
	}
	if _, err := os.Stat("/run/netns/" + lab.Host("p").NS); err != nil {
		t.Errorf("a live lab's namespace was removed: %v", err)
	}
}

// deadPID returns a pid no process has.
func deadPID(t *testing.T) int {
	for pid := 4_000_000; pid > 3_000_000; pid-- {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); errors.Is(err, os.ErrNotExist) {
			return pid
		}
	}
	t.Fatal("no free pid")
	return 0
}
