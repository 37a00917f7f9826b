package rendezvous_test

import (
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/rendezvous/server"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/redistest"
	"github.com/kithnet/kith/shared/testenv"
)

// BenchmarkRedisStore measures Register, Lookup and LookupMany on loopback against the
// memory and the Redis store at 1, 16 and 64 concurrent clients (each on its own
// connection), beside two anchors from the same run: a bare grpc.health.v1 Check on the
// same server (the framework's ceiling for a unary call) and redis-benchmark GET and SET
// against the same redis-server. Register's figure includes its ed25519 verification,
// whose single-core rate is printed apart (BenchmarkRedisMemory prints Redis memory per
// registered peer). It does its own measurement and ignores b.N: run it with `make
// bench` (-benchtime 1x).
func BenchmarkRedisStore(b *testing.B) {
	rb := testenv.Command(b, "redis-benchmark", "redis-tools")
	r := redistest.Start(b)
	unlimited := server.RateLimit{PerIP: -1, PerFingerprint: -1} // measure the service, not the limiter
	stores := []struct {
		name string
		srv  *rendezvoustest.Server
	}{
		{"memory", rendezvoustest.Start(b, rendezvous.Config{RateLimit: unlimited})},
		{"redis", rendezvoustest.Start(b, rendezvous.Config{RedisURL: r.URL(), RateLimit: unlimited})},
	}
	verify := verifyRate(b)
	fmt.Printf("\nkith-rendezvous, loopback, %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("ed25519 verify on one core: %.0f/s (%.1f µs each, inside every Register)\n", verify, 1e6/verify)
	fmt.Printf("%-7s %-11s %7s %12s %9s %9s %11s %9s %12s %9s\n", "store", "op", "clients", "ops/s", "p50", "p99",
		"health/s", "÷health", "redis GET/s", "÷GET")
	for _, clients := range []int{1, 16, 64} {
		get, _ := redisBenchmark(b, rb, r.Addr(), clients)
		ops := 3000
		if clients > 1 {
			ops = 12000
		}
		for _, st := range stores {
			conns := dialN(b, st.srv.GRPC, clients)
			health := healthN(b, st.srv.GRPC, clients)
			// The anchor first, then each op; the health check runs again last so that a
			// drift of the machine during the row shows.
			ceiling, _, _ := measure(b, clients, ops/clients, func(c, i int) error {
				_, err := health[c].Check(context.Background(), &healthpb.HealthCheckRequest{})
				return err
			})
			// Signed after the anchor: on a loaded machine a row outlasts the clock window.
			keys, regs := presign(b, clients, ops/clients)
			batch := make([]string, 0, 256)
			for _, k := range keys {
				batch = append(batch, string(k.Public().Fingerprint()))
			}
			for len(batch) < 256 { // registered and absent keys, as a peer's friends are
				batch = append(batch, string(rendezvoustest.NewKey(b).Public().Fingerprint()))
			}
			for _, op := range []string{"Register", "Lookup", "LookupMany"} {
				perCall := 1.0
				var call func(c, i int) error
				switch op {
				case "Register":
					call = func(c, i int) error {
						_, err := conns[c].Register(context.Background(), &rendezvousv1.RegisterRequest{Record: regs[c][i]})
						return err
					}
				case "Lookup":
					call = func(c, i int) error {
						fp := keys[(c+i)%clients].Public().Fingerprint()
						_, err := conns[c].Lookup(context.Background(), &rendezvousv1.LookupRequest{Fingerprint: string(fp)})
						return err
					}
				case "LookupMany":
					perCall = float64(len(batch))
					call = func(c, i int) error {
						_, err := conns[c].LookupMany(context.Background(), &rendezvousv1.LookupManyRequest{Fingerprints: batch})
						return err
					}
				}
				n := ops / clients
				if op == "LookupMany" {
					n = max(1, n/32)
				}
				rate, p50, p99 := measure(b, clients, n, call)
				rate *= perCall // records per second for LookupMany
				fmt.Printf("%-7s %-11s %7d %12.0f %9s %9s %11.0f %9.3f %12.0f %9.3f\n", st.name, op, clients, rate,
					p50.Round(time.Microsecond), p99.Round(time.Microsecond), ceiling, rate/ceiling, get, rate/get)
				b.ReportMetric(rate, fmt.Sprintf("%s-%s-%dc-ops/s", st.name, op, clients))
				b.ReportMetric(rate/ceiling, fmt.Sprintf("%s-%s-%dc-ratio-to-health", st.name, op, clients))
			}
			again, _, _ := measure(b, clients, ops/clients, func(c, i int) error {
				_, err := health[c].Check(context.Background(), &healthpb.HealthCheckRequest{})
				return err
			})
			fmt.Printf("%-7s %-11s %7d %12.0f   (the anchor again, after the row)\n", st.name, "health", clients, again)
		}
	}
}

// BenchmarkRedisMemory prints Redis memory per registered peer after 100k
// registrations through a Redis-backed server, rate counters included (the per-key
// budget is on, as in production). It does its own measurement and ignores b.N: run it
// with `make bench` (-benchtime 1x), or alone with
// `go test -run '^$' -bench BenchmarkRedisMemory -benchtime 1x ./rendezvous/`.
func BenchmarkRedisMemory(b *testing.B) {
	r := redistest.Start(b)
	limited := rendezvoustest.Start(b, rendezvous.Config{RedisURL: r.URL(), RateLimit: server.RateLimit{PerIP: -1}})
	perPeer := memoryPerPeer(b, r, limited.GRPC, 100_000)
	fmt.Printf("Redis memory per registered peer after 100000 registrations, rate counters included: %.0f bytes (goal ≤ 400; v1 layout: 597 without counters)\n", perPeer)
	b.ReportMetric(perPeer, "redis-bytes/peer")
}

// verifyRate measures ed25519 verifications per second on one goroutine.
func verifyRate(b *testing.B) float64 {
	b.Helper()
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 200)
	sig := ed25519.Sign(priv, msg)
	const n = 5000
	start := time.Now()
	for range n {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify failed")
		}
	}
	return n / time.Since(start).Seconds()
}

// healthN dials n connections for grpc.health.v1 clients.
func healthN(b *testing.B, addr string, n int) []healthpb.HealthClient {
	b.Helper()
	var cs []healthpb.HealthClient
	for _, conn := range dialConns(b, addr, n) {
		cs = append(cs, healthpb.NewHealthClient(conn))
	}
	return cs
}

// redisBenchmark runs redis-benchmark GET and SET with clients connections and returns
// requests per second.
func redisBenchmark(b *testing.B, bin, addr string, clients int) (get, set float64) {
	b.Helper()
	host, port, _ := strings.Cut(addr, ":")
	n := "20000"
	if clients > 1 {
		n = "100000"
	}
	out, err := exec.Command(bin, "-h", host, "-p", port, "-t", "get,set", "-n", n, "-c", strconv.Itoa(clients), "--csv").Output()
	if err != nil {
		b.Fatalf("redis-benchmark: %v\n%s", err, out)
	}
	rows, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil {
		b.Fatalf("redis-benchmark output: %v\n%s", err, out)
	}
	for _, row := range rows {
		if len(row) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(row[1], 64)
		switch row[0] {
		case "GET":
			get = v
		case "SET":
			set = v
		}
	}
	if get == 0 || set == 0 {
		b.Fatalf("redis-benchmark: no GET/SET figures in\n%s", out)
	}
	return get, set
}

func dialN(b testing.TB, addr string, n int) []rendezvousv1.RendezvousServiceClient {
	b.Helper()
	var cs []rendezvousv1.RendezvousServiceClient
	for _, conn := range dialConns(b, addr, n) {
		cs = append(cs, rendezvousv1.NewRendezvousServiceClient(conn))
	}
	return cs
}

// dialConns opens n client connections to addr, closed when b ends.
func dialConns(b testing.TB, addr string, n int) []*grpc.ClientConn {
	b.Helper()
	conns := make([]*grpc.ClientConn, n)
	for i := range conns {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close() })
		conns[i] = conn
	}
	return conns
}

// presign makes one key per client and perClient registrations of it with increasing
// timestamps, so signing is not measured.
func presign(b *testing.B, clients, perClient int) ([]*identity.Key, [][]*signedv1.Envelope) {
	b.Helper()
	keys := make([]*identity.Key, clients)
	regs := make([][]*signedv1.Envelope, clients)
	base := time.Now()
	for c := range clients {
		keys[c] = rendezvoustest.NewKey(b)
		for i := range perClient {
			regs[c] = append(regs[c], rendezvoustest.Registration(b, keys[c], base.Add(time.Duration(i)*time.Millisecond),
				5*time.Minute, "192.0.2.1:4000", "198.51.100.7:4000", "[2001:db8::1]:4000"))
		}
	}
	return keys, regs
}

// measure runs perClient calls on each client concurrently and returns throughput and
// the 50th and 99th latency percentiles.
func measure(b *testing.B, clients, perClient int, call func(client, i int) error) (float64, time.Duration, time.Duration) {
	b.Helper()
	lat := make([][]time.Duration, clients)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for ci := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				t0 := time.Now()
				if err := call(ci, i); err != nil {
					errs <- err
					return
				}
				lat[ci] = append(lat[ci], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatalf("call failed: %v", err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	return float64(len(all)) / elapsed.Seconds(), all[len(all)/2], all[len(all)*99/100]
}

// memoryPerPeer registers n distinct peers on an emptied Redis and returns the growth of
// used_memory per peer.
func memoryPerPeer(b *testing.B, r *redistest.Server, addr string, n int) float64 {
	b.Helper()
	if _, err := r.Do("FLUSHALL"); err != nil {
		b.Fatal(err)
	}
	before := usedMemory(b, r)
	const clients = 16
	conns := dialN(b, addr, clients)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for ci := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := ci; i < n; i += clients {
				k := rendezvoustest.NewKey(b)
				env := rendezvoustest.Registration(b, k, time.Now(), 10*time.Minute, "192.0.2.1:4000", "198.51.100.7:4000", "[2001:db8::1]:4000")
				if _, err := conns[ci].Register(context.Background(), &rendezvousv1.RegisterRequest{Record: env}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatalf("register: %v", err)
	}
	keys, err := r.Do("DBSIZE")
	if err != nil || keys != strconv.Itoa(n) {
		b.Fatalf("DBSIZE = %s, %v; want %d records", keys, err, n)
	}
	return float64(usedMemory(b, r)-before) / float64(n)
}

func usedMemory(b testing.TB, r *redistest.Server) int64 {
	b.Helper()
	v, err := r.Info("used_memory")
	if err != nil {
		b.Fatal(err)
	}
	m, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return m
}
