package e2e

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/natlab"
)

// connectedAt finds the daemon's "connected" log line and its time.
var connectedAt = regexp.MustCompile(`time=(\S+) level=INFO msg=connected friend=\S+ path=(\S+)`)

// BenchmarkConnectBinaries measures the real binaries in the lab with 20 ms one way on
// every internet link (40 ms between two homes): the time from `kith sync` to the QUIC
// handshake done (the daemon's "connected" log line), cold (the syncing daemon is
// restarted before each run, so it knows no path), direct between two port-restricted
// NATs and relayed between two symmetric ones, median and p90 over 20 runs, in round
// trips; then a 50 MiB attachment synced over each path, and the relay's throughput as
// a fraction of the direct one. Daemons run with --follow=false so only the sync
// connects.
func BenchmarkConnectBinaries(b *testing.B) {
	const oneWay, runs, size = 20 * time.Millisecond, 20, 50 << 20
	rtt := 2 * oneWay
	lab := natlab.New(b, natlab.Config{
		Public: []string{"rv"},
		Homes: []natlab.Home{
			{Name: "pr1", NAT: natlab.PortRestricted}, {Name: "pr2", NAT: natlab.PortRestricted},
			{Name: "sym1", NAT: natlab.Symmetric}, {Name: "sym2", NAT: natlab.Symmetric},
		},
		Netem: natlab.Netem{Delay: oneWay},
	})
	rv, _ := startRendezvous(b, lab, "rv", 7000, 3478)
	attachment := filepath.Join(b.TempDir(), "big.bin")
	big := make([]byte, size)
	rand.Read(big)
	if err := os.WriteFile(attachment, big, 0o600); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		throughput := map[string]float64{}
		for _, pc := range []struct{ name, server, client, path string }{
			{"direct", "pr1", "pr2", "direct"}, {"relayed", "sym1", "sym2", "relay"},
		} {
			flags := []string{"--follow=false"}
			peers := startLabPeers(b, lab, []string{pc.server, pc.client}, rv, flags...)
			srv, cli := peers[pc.server], peers[pc.client]
			befriend(b, srv, cli, false)
			var times []time.Duration
			for i := range runs {
				if i > 0 { // cold: a fresh daemon (on a fresh port: a TURN allocation outlives its process)
					_ = cli.proc.Stop()
					cli.start(b, rv, append(flags, "--listen", ":0")...)
				}
				d, _ := timedSync(b, cli, srv, pc.path)
				times = append(times, d)
			}
			report(b, pc.name, times, rtt)

			if _, err := kithCLI("--home", srv.home, "post", "--attach", attachment, "a big one"); err != nil {
				b.Fatal(err)
			}
			_ = cli.proc.Stop()
			cli.start(b, rv, append(flags, "--listen", ":0")...)
			connect, total := timedSync(b, cli, srv, pc.path)
			transfer := total - connect
			throughput[pc.name] = float64(size) / transfer.Seconds()
			b.ReportMetric(throughput[pc.name]/(1<<20), pc.name+"-MiB/s")
			fmt.Printf("50 MiB %s: connected in %v, transferred in %v: %.1f MiB/s\n", pc.name, connect.Round(time.Millisecond),
				transfer.Round(time.Millisecond), throughput[pc.name]/(1<<20))
			for _, p := range []*labPeer{srv, cli} {
				_ = p.proc.Stop()
			}
		}
		ratio := throughput["relayed"] / throughput["direct"]
		b.ReportMetric(ratio, "relay/direct-throughput")
		fmt.Printf("relay throughput / direct throughput: %.2f\n", ratio)
	}
}

// timedSync runs `kith sync` on cli for srv and returns the time to the handshake
// (from the daemon's log) and to the end of the sync; the path must be want.
func timedSync(b testing.TB, cli, srv *labPeer, want string) (connect, total time.Duration) {
	b.Helper()
	mark := len(cli.proc.Output())
	start := time.Now()
	if out, err := kithCLI("--home", cli.home, "sync", srv.id); err != nil {
		b.Fatalf("kith sync: %v\n%s", err, out)
	}
	total = time.Since(start)
	m := connectedAt.FindStringSubmatch(cli.proc.Output()[mark:])
	if m == nil {
		b.Fatalf("no 'connected' line in the daemon's log:\n%s", cli.proc.Output()[mark:])
	}
	if m[2] != want {
		b.Fatalf("%s -> %s: path %s, want %s", cli.name, srv.name, m[2], want)
	}
	at, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		b.Fatal(err)
	}
	return at.Sub(start), total
}

// report adds the median and p90 of ds, in ms and in round trips, to b's results and
// prints them.
func report(b *testing.B, name string, ds []time.Duration, rtt time.Duration) {
	slices.Sort(ds)
	med, p90 := ds[len(ds)/2], ds[len(ds)*9/10]
	b.ReportMetric(float64(med)/float64(time.Millisecond), name+"-median-ms")
	b.ReportMetric(float64(p90)/float64(time.Millisecond), name+"-p90-ms")
	b.ReportMetric(float64(med)/float64(rtt), name+"-median-RTTs")
	b.ReportMetric(float64(p90)/float64(rtt), name+"-p90-RTTs")
	fmt.Printf("kith sync -> QUIC handshake done, %s, %d runs: median %v (%.1f RTT), p90 %v (%.1f RTT) at %v RTT\n",
		name, len(ds), med.Round(time.Millisecond), float64(med)/float64(rtt), p90.Round(time.Millisecond), float64(p90)/float64(rtt), rtt)
}
