package nat

import (
	"context"
	"crypto/tls"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/kithnet/kith/shared/natlab"
)

// BenchmarkConnect measures, in the lab with 20 ms towards every node (a 40 ms round
// trip between two homes), the time from the start of a connection attempt to a
// finished QUIC handshake: direct (STUN already done, punch, handshake) between two
// port-restricted NATs, and relayed (allocate on coturn, handshake through the relay)
// between two symmetric NATs. It reports the median and p90 over 20 attempts, in
// milliseconds and in round trips: the baseline the integrated benchmark of the real
// binaries adds its own work to.
func BenchmarkConnect(b *testing.B) {
	const oneWay, runs = 20 * time.Millisecond, 20
	rtt := 2 * oneWay
	lab := natlab.New(b, natlab.Pairs(oneWay))
	stunServer := startReflector(b, lab)
	turnServer := startCoturnIn(b, lab.Host("rv"))
	serverTLS, clientTLS := tlsConfigs(b)
	for range b.N {
		var direct, relayed []time.Duration
		for range runs {
			a, c := newLabPeer(b, lab, "pr1", stunServer), newLabPeer(b, lab, "pr2", stunServer)
			start := time.Now()
			pa, _, ea, eb := punchPeers(a, c, 3*time.Second)
			if ea != nil || eb != nil {
				b.Fatalf("direct: %v, %v", ea, eb)
			}
			handshake(b, c.mux.PacketConn(), a.mux.PacketConn(), net.UDPAddrFromAddrPort(pa.Remote), serverTLS, clientTLS)
			direct = append(direct, time.Since(start))

			s1, s2 := newLabPeer(b, lab, "sym1", stunServer), newLabPeer(b, lab, "sym2", stunServer)
			user, pass := turnServer.credentials("bench", time.Now().Add(time.Hour))
			start = time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			relay, err := s1.mux.AllocateTURN(ctx, turnServer.config(user, pass))
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			_, _ = relay.Conn.WriteTo([]byte{0}, net.UDPAddrFromAddrPort(s2.candidates[1]))
			handshake(b, relay.Conn, s2.mux.PacketConn(), net.UDPAddrFromAddrPort(relay.Addr), serverTLS, clientTLS)
			relayed = append(relayed, time.Since(start))
			relay.Close()
		}
		report(b, "direct", direct, rtt)
		report(b, "relayed", relayed, rtt)
	}
}

// report adds median and p90 of ds, in ms and in round trips, to b's results.
func report(b *testing.B, name string, ds []time.Duration, rtt time.Duration) {
	slices.Sort(ds)
	med, p90 := ds[len(ds)/2], ds[len(ds)*9/10]
	b.ReportMetric(float64(med)/float64(time.Millisecond), name+"-median-ms")
	b.ReportMetric(float64(p90)/float64(time.Millisecond), name+"-p90-ms")
	b.ReportMetric(float64(med)/float64(rtt), name+"-median-RTTs")
	b.ReportMetric(float64(p90)/float64(rtt), name+"-p90-RTTs")
}

// handshake listens for QUIC on serverConn, dials it from clientConn at addr and
// returns when the client's handshake is done, closing both transports after.
func handshake(b *testing.B, serverConn, clientConn net.PacketConn, addr net.Addr, serverTLS, clientTLS *tls.Config) {
	b.Helper()
	st, ct := &quic.Transport{Conn: serverConn}, &quic.Transport{Conn: clientConn}
	defer st.Close()
	defer ct.Close()
	ln, err := st.Listen(serverTLS, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := ct.Dial(ctx, addr, clientTLS, nil)
	if err != nil {
		b.Fatalf("QUIC handshake to %s: %v", addr, err)
	}
	c.CloseWithError(0, "")
}
