package e2e

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
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
// trips; the rest of each sync (a new post each run: the sync's calls), in the path's
// round trips; then a 50 MiB attachment synced over each path, and the relay's
// throughput as a fraction of the direct one. Daemons run with --follow=false so only
// the sync connects.
func BenchmarkConnectBinaries(b *testing.B) {
	const oneWay, runs, size = 20 * time.Millisecond, 20, 50 << 20
	rtt := 2 * oneWay
	lab, rv, rvProc := pairsLab(b, oneWay)
	attachment := filepath.Join(b.TempDir(), "big.bin")
	big := make([]byte, size)
	rand.Read(big)
	if err := os.WriteFile(attachment, big, 0o600); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		throughput := map[string]float64{}
		for _, pc := range []pathCase{
			{"direct", "pr1", "pr2", "direct"}, {"relayed", "sym1", "sym2", "relay"},
		} {
			flags := []string{"--follow=false"}
			peers := startLabPeers(b, lab, []string{pc.server, pc.client}, rv, flags...)
			srv, cli := peers[pc.server], peers[pc.client]
			befriend(b, srv, cli, false)
			var times, agent, calls []time.Duration
			var ways []string
			for i := range runs {
				if i > 0 { // cold: a fresh daemon (on a fresh port: a TURN allocation outlives its process)
					_ = cli.proc.Stop()
					cli.start(b, rv, append(flags, "--listen", ":0")...)
				}
				if _, err := kithCLI("--home", srv.home, "post", fmt.Sprintf("run %d", i)); err != nil {
					b.Fatal(err)
				}
				mark := len(cli.proc.Output())
				d, total := timedSync(b, cli, srv, pc.path)
				times, calls = append(times, d), append(calls, total-d)
				d, how := agentElapsed(b, cli.proc.Output()[mark:])
				agent, ways = append(agent, d), append(ways, how)
			}
			reportWays(pc.name, agent, ways)
			report(b, pc.name, times, rtt)
			reportAgent(b, pc.name, agent, rtt)
			reportCalls(b, pc.name, calls, pc.rtt(oneWay))

			tr := transferRate(b, rv, rvProc, srv, cli, pc.name, pc.path, attachment, flags)
			throughput[pc.name] = tr.rate
			b.ReportMetric(tr.rate/(1<<20), pc.name+"-MiB/s")
			for _, p := range []*labPeer{srv, cli} {
				_ = p.proc.Stop()
			}
		}
		ratio := throughput["relayed"] / throughput["direct"]
		b.ReportMetric(ratio, "relay/direct-throughput")
		fmt.Printf("relay throughput / direct throughput: %.2f (issue 20 asks >= 0.8; 0.45-0.52 before it)\n", ratio)
	}
}

// pathCase is a pair of the lab synced over one path: the server's and the client's
// home, and the path the daemon's "connected" line must name.
type pathCase struct{ name, server, client, path string }

// rtt is the path's round trip with oneWay on every internet link: two links between
// two homes, four through the relay.
func (pc pathCase) rtt(oneWay time.Duration) time.Duration {
	if pc.path == "relay" {
		return 4 * oneWay
	}
	return 2 * oneWay
}

// reportCalls reports the sync's part after the handshake (the CLI's whole run less
// the time to the "connected" line): a feed with one new post (without attachment), so
// mostly the sync's round trips, counted in the path's own round trip.
func reportCalls(b *testing.B, name string, ds []time.Duration, rtt time.Duration) {
	slices.Sort(ds)
	med, p90 := ds[len(ds)/2], ds[len(ds)*9/10]
	b.ReportMetric(float64(med)/float64(rtt), name+"-sync-after-handshake-RTTs")
	fmt.Printf("QUIC handshake -> kith sync done (the sync's calls), %s, %d runs: median %v (%.1f of the path's RTT, %v), p90 %v (%.1f)\n",
		name, len(ds), med.Round(time.Millisecond), float64(med)/float64(rtt), rtt, p90.Round(time.Millisecond), float64(p90)/float64(rtt))
}

// transfer is one attachment's sync: its rate in bytes a second (the sync's time less
// the time to the handshake), and the CPU time the lab's processes spent on the whole
// sync, per MiB.
type transfer struct {
	rate   float64
	cpuMiB time.Duration
}

// transferRate posts the file at attachment on srv, restarts cli (cold) and syncs it
// over the path want. Beside the rate it measures the CPU time of both daemons, the
// rendezvous (rvProc: the TURN relay) and this process (the lab's delayers), and
// prints the sender's view of the connection (its "connection ended" line: the round
// trip and the packets lost, which show a queue or loss on the path). On a shared
// machine with two cores the two paths compete for the same CPU, so the relayed
// path's extra CPU (a relay in user space, and a second delayed link) bounds its rate
// as much as the network does; CPU time, unlike the rate, hardly moves with the
// machine's load.
func transferRate(b *testing.B, rv string, rvProc *natlab.Process, srv, cli *labPeer, name, want, attachment string, flags []string) transfer {
	b.Helper()
	fi, err := os.Stat(attachment)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := kithCLI("--home", srv.home, "post", "--attach", attachment, "a big one"); err != nil {
		b.Fatal(err)
	}
	_ = cli.proc.Stop()
	cli.start(b, rv, append(flags, "--listen", ":0")...)
	procs := []struct {
		name string
		pid  int
	}{{"server", srv.proc.Cmd.Process.Pid}, {"client", cli.proc.Cmd.Process.Pid}, {"rendezvous", rvProc.Cmd.Process.Pid}, {"lab", os.Getpid()}}
	before := make([]time.Duration, len(procs))
	for i, p := range procs {
		before[i] = cpuTime(b, p.pid)
	}
	mark := len(srv.proc.Output())
	connect, total := timedSync(b, cli, srv, want)
	took := total - connect
	rate := float64(fi.Size()) / took.Seconds()
	var cpu time.Duration
	used := ""
	for i, p := range procs {
		d := cpuTime(b, p.pid) - before[i]
		cpu += d
		used += fmt.Sprintf(" %s %v", p.name, d.Round(10*time.Millisecond))
	}
	// The connection that carried the file is the one that sent the most packets (an
	// earlier one may end in the same while).
	sender := "no 'connection ended' line from the sender within 5 s"
	eventually(5*time.Second, func() bool {
		most := 0
		for _, m := range connectionEnded.FindAllStringSubmatch(srv.proc.Output()[mark:], -1) {
			if n, _ := strconv.Atoi(m[3]); n > most {
				most = n
				sender = fmt.Sprintf("the sender's round trip %s ms (least %s), %s of %s packets lost", m[1], m[2], m[4], m[3])
			}
		}
		return int64(most) > fi.Size()/1500 // every packet of the file, at most 1500 bytes each
	})
	mib := float64(fi.Size()) / (1 << 20)
	fmt.Printf("%d MiB %s: connected in %v, transferred in %v: %.1f MiB/s; CPU%s = %v (%.1f ms/MiB); %s\n", fi.Size()>>20, name, connect.Round(time.Millisecond),
		took.Round(time.Millisecond), rate/(1<<20), used, cpu.Round(10*time.Millisecond), float64(cpu)/float64(time.Millisecond)/mib, sender)
	return transfer{rate: rate, cpuMiB: time.Duration(float64(cpu) / mib)}
}

// connectionEnded finds a daemon's "connection ended" line (peer/transport): the
// connection's smoothed and least round trip, its packets sent and lost.
var connectionEnded = regexp.MustCompile(`msg="connection ended" .*rtt_ms=(\S+) min_rtt_ms=(\S+) sent_packets=(\d+) lost_packets=(\d+)`)

// cpuTime is the user and system CPU time process pid has used so far, from
// /proc/PID/stat (fields 14 and 15, in clock ticks of 10 ms: USER_HZ is 100 on
// Linux).
func cpuTime(b testing.TB, pid int) time.Duration {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name (field 2) may hold spaces: count fields after its ')'.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		b.Fatalf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	var ticks time.Duration
	for _, v := range f[11:13] { // utime, stime: fields 14 and 15 of the line
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatalf("/proc/%d/stat: %v", pid, err)
		}
		ticks += time.Duration(n)
	}
	return ticks * 10 * time.Millisecond
}

// BenchmarkRelayThroughput is BenchmarkConnectBinaries' throughput part alone, with
// the direct and the relayed transfer alternating, rounds times each, each round a
// new 50 MiB file: on a shared, noisy machine the median of alternating runs compares
// the two paths better than one run each.
func BenchmarkRelayThroughput(b *testing.B) {
	const oneWay, rounds, size = 20 * time.Millisecond, 3, 50 << 20
	lab, rv, rvProc := pairsLab(b, oneWay)
	flags := []string{"--follow=false"}
	peers := startLabPeers(b, lab, []string{"pr1", "pr2", "sym1", "sym2"}, rv, flags...)
	befriend(b, peers["pr1"], peers["pr2"], false)
	befriend(b, peers["sym1"], peers["sym2"], false)
	for range b.N {
		rates := map[string][]float64{}
		cpus := map[string][]time.Duration{}
		for i := range rounds {
			for _, pc := range []struct{ name, server, client, path string }{
				{"direct", "pr1", "pr2", "direct"}, {"relayed", "sym1", "sym2", "relay"},
			} {
				attachment := filepath.Join(b.TempDir(), fmt.Sprintf("big%d.bin", i))
				big := make([]byte, size)
				rand.Read(big)
				if err := os.WriteFile(attachment, big, 0o600); err != nil {
					b.Fatal(err)
				}
				tr := transferRate(b, rv, rvProc, peers[pc.server], peers[pc.client], pc.name, pc.path, attachment, flags)
				rates[pc.name] = append(rates[pc.name], tr.rate)
				cpus[pc.name] = append(cpus[pc.name], tr.cpuMiB)
			}
		}
		med := func(xs []float64) float64 { slices.Sort(xs); return xs[len(xs)/2] }
		d, r := med(rates["direct"]), med(rates["relayed"])
		b.ReportMetric(d/(1<<20), "direct-MiB/s")
		b.ReportMetric(r/(1<<20), "relayed-MiB/s")
		b.ReportMetric(r/d, "relay/direct-throughput")
		fmt.Printf("median of %d alternating runs: direct %.1f MiB/s, relayed %.1f MiB/s: relay/direct %.2f (issue 20 asks >= 0.8)\n",
			rounds, d/(1<<20), r/(1<<20), r/d)
		dc, rc := slices.Min(cpus["direct"]), slices.Min(cpus["relayed"])
		b.ReportMetric(float64(dc)/float64(time.Millisecond), "direct-cpu-ms/MiB")
		b.ReportMetric(float64(rc)/float64(time.Millisecond), "relayed-cpu-ms/MiB")
		b.ReportMetric(float64(dc)/float64(rc), "direct/relayed-cpu")
		fmt.Printf("least CPU per MiB over the runs, all lab processes: direct %v, relayed %v: the relayed path costs %.2f times the CPU; where the two cores are the limit, relay/direct throughput cannot pass %.2f\n",
			dc.Round(time.Microsecond), rc.Round(time.Microsecond), float64(rc)/float64(dc), float64(dc)/float64(rc))
	}
}

// pairsLab is natlab.Pairs with a rendezvous on rv; it returns the rendezvous's
// address and process.
func pairsLab(b *testing.B, oneWay time.Duration) (*natlab.Lab, string, *natlab.Process) {
	lab := natlab.New(b, natlab.Pairs(oneWay))
	rv, p := startRendezvous(b, lab, "rv", 7000, 3478)
	return lab, rv, p
}

// anchors are the figures issue 20 sets beside each measurement: its targets and what
// the same benchmark gave before it.
var anchors = map[string]string{
	"direct":  "issue 20 asks <= 3 RTT; 3.3 before it",
	"relayed": "issue 20 asks <= 6 RTT; 85.7 before it",
}

// BenchmarkDirectRate runs real daemons over the lab's whole NAT matrix with 20 ms one
// way on every internet link: every pair of the standard lab's kinds, plus routers
// without an input firewall and a symmetric NAT behind a port-mapping router (real
// miniupnpd). Each pair syncs both ways; a pair counts as direct when both sides report
// a direct path within 20 s. The rate is printed beside its anchors: libp2p's DCUtR
// (about 70% of hole punches succeed, measured in the wild) and Tailscale ("well over
// 90%" of connections direct). Ours is a lab's matrix, one pair per kind, not a
// population of real networks: it says which kinds go direct, not how common they are.
func BenchmarkDirectRate(b *testing.B) {
	const oneWay = 20 * time.Millisecond
	cfg := natlab.Standard()
	cfg.Homes = append(cfg.Homes,
		natlab.Home{Name: "po1", NAT: natlab.PortRestricted, NoInputFirewall: true},
		natlab.Home{Name: "po2", NAT: natlab.PortRestricted, NoInputFirewall: true},
		natlab.Home{Name: "pm1", NAT: natlab.Symmetric, PortMap: natlab.AllPortMappers})
	cfg.Netem = natlab.Netem{Delay: oneWay}
	lab := natlab.New(b, cfg)
	rv, _ := startRendezvous(b, lab, "rv", 7000, 3478)
	pairs := [][2]string{
		{"pr1", "pr2"}, {"pr1", "fc1"}, {"pr1", "sym1"}, {"pr1", "dbl1"}, {"fc1", "fc2"}, {"fc1", "sym1"}, {"fc1", "dbl1"},
		{"sym1", "sym2"}, {"sym1", "dbl1"}, {"dbl1", "dbl2"}, {"lan1", "lan2"},
		{"po1", "po2"}, {"po1", "sym2"}, {"pm1", "sym2"},
	}
	for range b.N {
		peers := startLabPeers(b, lab, []string{"pr1", "pr2", "fc1", "fc2", "sym1", "sym2", "dbl1", "dbl2", "lan1", "lan2", "po1", "po2", "pm1"}, rv)
		for _, pr := range pairs {
			befriend(b, peers[pr[0]], peers[pr[1]], false)
		}
		for name, p := range peers {
			p.post(b, "hello from "+name)
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		direct := 0
		for _, pr := range pairs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				x, y := peers[pr[0]], peers[pr[1]]
				ok := true
				for _, s := range [][2]*labPeer{{x, y}, {y, x}} {
					kithCLI("--home", s[0].home, "sync", s[1].id)
					ok = ok && eventually(20*time.Second, func() bool { p, _ := s[0].path(s[1]); return p == "direct" })
				}
				mu.Lock()
				defer mu.Unlock()
				if ok {
					direct++
				}
				fmt.Printf("  %s(%s) <-> %s(%s): direct %v\n", pr[0], labKind(pr[0]), pr[1], labKind(pr[1]), ok)
			}()
		}
		wg.Wait()
		rate := float64(direct) / float64(len(pairs))
		b.ReportMetric(100*rate, "direct-%")
		fmt.Printf("direct-path rate over the lab's matrix (%d pairs, %v one way): %d/%d = %.0f%%; anchors: libp2p DCUtR about 70%% (in the wild), Tailscale \"well over 90%%\"\n",
			len(pairs), oneWay, direct, len(pairs), 100*rate)
		for _, p := range peers {
			_ = p.proc.Stop()
		}
	}
}

// labKind names the NAT of a host of BenchmarkDirectRate's lab.
func labKind(host string) string {
	switch host {
	case "po1", "po2":
		return "port-restricted, no input firewall"
	case "pm1":
		return "symmetric, port-mapping router"
	}
	return natlab.StandardKind(host)
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

// connectedElapsed finds the time the daemon's find took, from its start to the
// handshake, in the "connected" line.
var connectedElapsed = regexp.MustCompile(`msg=connected .*how=(\S+) elapsed_ms=(\d+)`)

// agentElapsed is the agent's part of one sync: from the daemon's find start to the
// QUIC handshake (the "connected" line's elapsed_ms in log, the daemon's output since
// the sync began), without the CLI's start and its call to the daemon; and the way that
// won (the line's how).
func agentElapsed(b testing.TB, log string) (time.Duration, string) {
	b.Helper()
	m := connectedElapsed.FindStringSubmatch(log)
	if m == nil {
		b.Fatalf("no 'connected' line with how and elapsed_ms in the daemon's log:\n%s", log)
	}
	ms, err := strconv.Atoi(m[2])
	if err != nil {
		b.Fatal(err)
	}
	return time.Duration(ms) * time.Millisecond, m[1]
}

// reportWays prints, run by run, the agent's part of each connect and the way that
// won it.
func reportWays(name string, ds []time.Duration, ways []string) {
	var runs []string
	for i, d := range ds {
		runs = append(runs, fmt.Sprintf("%d %s", d.Milliseconds(), ways[i]))
	}
	fmt.Printf("%s, run by run (the agent's ms, the way that won): %s\n", name, strings.Join(runs, ", "))
}

// reportAgent adds the median and p90 of the agent's part of each connect (ds, from
// agentElapsed), in round trips, to b's results and prints them.
func reportAgent(b *testing.B, name string, ds []time.Duration, rtt time.Duration) {
	slices.Sort(ds)
	med, p90 := ds[len(ds)/2], ds[len(ds)*9/10]
	b.ReportMetric(float64(med)/float64(rtt), name+"-agent-median-RTTs")
	b.ReportMetric(float64(p90)/float64(rtt), name+"-agent-p90-RTTs")
	fmt.Printf("the daemon's find -> QUIC handshake done, %s, %d runs: median %v (%.1f RTT), p90 %v (%.1f RTT)\n",
		name, len(ds), med.Round(time.Millisecond), float64(med)/float64(rtt), p90.Round(time.Millisecond), float64(p90)/float64(rtt))
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
	fmt.Printf("kith sync -> QUIC handshake done, %s, %d runs: median %v (%.1f RTT), p90 %v (%.1f RTT) at %v RTT; %s\n",
		name, len(ds), med.Round(time.Millisecond), float64(med)/float64(rtt), p90.Round(time.Millisecond), float64(p90)/float64(rtt), rtt, anchors[name])
}
