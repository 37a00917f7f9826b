package turn

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	pturn "github.com/pion/turn/v2"
	"golang.org/x/sys/unix"

	"github.com/kithnet/kith/shared/testenv"
)

// bufferSizes reads a UDP socket's receive and send buffer sizes as the kernel reports
// them (twice what was set: the kernel counts its bookkeeping).
func bufferSizes(t *testing.T, c *net.UDPConn) (rcv, snd int) {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var errs [2]error
	if err := raw.Control(func(fd uintptr) {
		rcv, errs[0] = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		snd, errs[1] = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
	}); err != nil {
		t.Fatal(err)
	}
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return rcv, snd
}

// TestBuffers: the server's main socket and each relay socket get the larger buffers
// (as root, past net.core.rmem_max; testenv.Root skips elsewhere, fails under CI).
func TestBuffers(t *testing.T) {
	testenv.Root(t)
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(Config{PacketConn: pc, Secret: "s", AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if rcv, snd := bufferSizes(t, pc); rcv < mainBuffer || snd < mainBuffer {
		t.Errorf("main socket buffers %d / %d bytes, want at least %d", rcv, snd, mainBuffer)
	}
	static := &pturn.RelayAddressGeneratorStatic{RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1"}
	if err := static.Validate(); err != nil {
		t.Fatal(err)
	}
	g := &quotaGenerator{s: s, RelayAddressGenerator: static}
	relay, _, err := g.AllocatePacketConn("udp4", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	if rcv, snd := bufferSizes(t, relay.(*relayConn).PacketConn.(*batchConn).UDPConn); rcv < relayBuffer || snd < relayBuffer {
		t.Errorf("relay socket buffers %d / %d bytes, want at least %d", rcv, snd, relayBuffer)
	}
}

// TestGrowBuffersPastTheCeiling: as root, growBuffers goes past net.core.rmem_max and
// wmem_max (SO_RCVBUFFORCE), where SetReadBuffer alone stops.
func TestGrowBuffersPastTheCeiling(t *testing.T) {
	testenv.Root(t)
	ceiling := 0
	for _, f := range []string{"/proc/sys/net/core/rmem_max", "/proc/sys/net/core/wmem_max"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		ceiling = max(ceiling, v)
	}
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	// The kernel reports twice what it grants: without the force it grants at most the
	// ceiling, so it reports at most 2 x ceiling.
	growBuffers(pc, 2*ceiling)
	if rcv, snd := bufferSizes(t, pc); rcv <= 2*ceiling || snd <= 2*ceiling {
		t.Errorf("buffers %d / %d bytes after asking %d: no more than the ceiling (%d) grants", rcv, snd, 2*ceiling, ceiling)
	}
}
