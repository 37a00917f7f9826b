package turn

import (
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/logging"
	pturn "github.com/pion/turn/v2"
)

// BenchmarkRelayBatches relays 100,000 1,280-byte datagrams per op (a QUIC packet) from a peer
// through the TURN server to a pion client, all on loopback in this process, with
// pion's own writes ("pion-writes", the baseline) and with batchConn ("batched"), in
// the same run. It reports the process's CPU per relayed datagram (the sending peer
// and the receiving client are the same in both, so the ratio understates the
// server's own gain). The peer keeps at most 256 datagrams in flight, as a congestion
// window would, so that neither run is measured dropping.
func BenchmarkRelayBatches(b *testing.B) {
	for _, mode := range []struct {
		name  string
		batch bool
	}{{"pion-writes", false}, {"batched", true}} {
		b.Run(mode.name, func(b *testing.B) {
			batchWrites = mode.batch
			defer func() { batchWrites = true }()
			relayed, peer, got := relayPair(b)
			const window, size, perOp = 256, 1280, 100000
			n := b.N * perOp
			p := make([]byte, size)
			cpu := processCPU(b)
			start := time.Now()
			b.ResetTimer()
			for i := range n {
				for int64(i)-got.Load() >= window {
					if time.Since(start) > time.Minute {
						b.Fatalf("stalled: %d of %d relayed", got.Load(), i)
					}
					time.Sleep(50 * time.Microsecond)
				}
				if _, err := peer.WriteTo(p, relayed); err != nil {
					b.Fatal(err)
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for got.Load() < int64(n) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			used := processCPU(b) - cpu
			b.ReportMetric(float64(used.Nanoseconds())/1e3/float64(n), "cpu-µs/datagram")
			b.ReportMetric(float64(int64(n)-got.Load())/float64(n)*100, "%lost")
			b.SetBytes(size * perOp)
		})
	}
}

// relayPair starts a TURN server and a pion client with an allocation that lets a
// peer socket in; it returns the relayed address, the peer and the count of datagrams
// the client has read from the relay.
func relayPair(b *testing.B) (net.Addr, net.PacketConn, *atomic.Int64) {
	b.Helper()
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	srv, err := Start(Config{PacketConn: listen(), RelayIP: net.IPv4(127, 0, 0, 1), RelayBind: "127.0.0.1", Secret: "s", AllowPrivate: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	addr := srv.cfg.PacketConn.LocalAddr().String()
	u, pw := Credentials("s", "bench", time.Now().Add(time.Hour))
	clientConn, peer := listen(), listen()
	growBuffers(clientConn, 4<<20)
	growBuffers(peer, 4<<20)
	c, err := pturn.NewClient(&pturn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: clientConn,
		Username: u, Password: pw, Realm: "kith", LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	if err := c.Listen(); err != nil {
		b.Fatal(err)
	}
	relay, err := c.Allocate()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { relay.Close() })
	// A datagram to the peer makes pion's permission and channel binding.
	if _, err := relay.WriteTo([]byte("hello"), peer.LocalAddr()); err != nil {
		b.Fatal(err)
	}
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	if _, _, err := peer.ReadFrom(buf); err != nil {
		b.Fatalf("the peer got nothing through the relay: %v", err)
	}
	var got atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := relay.ReadFrom(buf); err != nil {
				return
			}
			got.Add(1)
		}
	}()
	time.Sleep(100 * time.Millisecond) // pion's channel binding, made in the background
	return relay.LocalAddr(), peer, &got
}

// processCPU is the user and system CPU this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
