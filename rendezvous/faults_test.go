package rendezvous_test

// Fault tests: what peers see when a rendezvous instance dies, when their own network
// goes away and comes back, and when the instance relaying their traffic is lost.
// Redis restarted under a running rendezvous is TestRedisOutage (server package), and
// a Redis Cluster master lost under load is TestClusterFailoverUnderLoad.

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/kithnet/kith/peer/discovery"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/natlab"
	"github.com/kithnet/kith/shared/redistest"
)

// rendezvousBin is kith-rendezvous built once for the tests of this package that run it
// as a process; TestMain removes it.
var rendezvousBin struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if rendezvousBin.dir != "" {
		os.RemoveAll(rendezvousBin.dir)
	}
	os.Exit(code)
}

// buildRendezvous builds kith-rendezvous (once) and returns the binary's path.
func buildRendezvous(t *testing.T) string {
	t.Helper()
	rendezvousBin.once.Do(func() {
		if rendezvousBin.dir, rendezvousBin.err = os.MkdirTemp("", "kith-rendezvous-test-"); rendezvousBin.err != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", rendezvousBin.dir, "github.com/kithnet/kith/rendezvous/cmd/kith-rendezvous").CombinedOutput()
		if err != nil {
			rendezvousBin.err = fmt.Errorf("go build kith-rendezvous: %v\n%s", err, out)
		}
	})
	if rendezvousBin.err != nil {
		t.Fatal(rendezvousBin.err)
	}
	return filepath.Join(rendezvousBin.dir, "kith-rendezvous")
}

// freeAddr returns a loopback host:port free for TCP and UDP right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		if u, err := net.ListenPacket("udp", addr); err == nil {
			u.Close()
			return addr
		}
	}
	t.Fatal("no free loopback port for TCP and UDP")
	return ""
}

// rendezvousProcess is a kith-rendezvous running as its own process.
type rendezvousProcess struct {
	GRPC string
	cmd  *exec.Cmd
	done chan struct{}
}

// startRendezvous runs bin with args, on loopback ports of its own, until t ends, and
// waits until its gRPC health answers SERVING.
func startRendezvous(t *testing.T, bin string, args ...string) *rendezvousProcess {
	t.Helper()
	p := &rendezvousProcess{GRPC: freeAddr(t), done: make(chan struct{})}
	args = append([]string{"--listen", p.GRPC, "--stun", freeAddr(t), "--log-level", "warn"}, args...)
	p.cmd = exec.Command(bin, args...)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.Kill)
	waitServing(t, p.GRPC, nil)
	return p
}

// Kill ends the process with SIGKILL, as a crash or an OOM kill would, and waits for it.
func (p *rendezvousProcess) Kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// waitServing waits up to 10 s until the gRPC health of addr answers SERVING.
func waitServing(t *testing.T, addr string, opts []grpc.DialOption) {
	t.Helper()
	if opts == nil {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rendezvous %s not serving after 10s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testPeer is a peer's discovery client, running until the test ends, with the offers
// it received.
type testPeer struct {
	key    *identity.Key
	c      *discovery.Client
	offers chan discovery.Offer

	mu    sync.Mutex
	cands string // its candidate, which a test may change (a new NAT mapping)
}

func (p *testPeer) candidates() []*rendezvousv1.Candidate {
	p.mu.Lock()
	defer p.mu.Unlock()
	return []*rendezvousv1.Candidate{{Address: p.cands, Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_SERVER_REFLEXIVE}}
}

func (p *testPeer) setCandidate(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cands = addr
}

// runPeer starts a discovery client for a new key on servers; extra dial options come
// before the plaintext credentials.
func runPeer(t *testing.T, servers []string, cand string, dial ...grpc.DialOption) *testPeer {
	t.Helper()
	p := &testPeer{key: rendezvoustest.NewKey(t), offers: make(chan discovery.Offer, 16), cands: cand}
	c, err := discovery.New(discovery.Config{
		Key: p.key, Servers: servers, Candidates: p.candidates, TTL: time.Minute, Public: func() bool { return true },
		OnOffer:    func(o discovery.Offer) { p.offers <- o },
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
		DialOptions: append(dial, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: 2 * time.Second,
				Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, MaxDelay: time.Second}})),
	})
	if err != nil {
		t.Fatal(err)
	}
	p.c = c
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return p
}

// waitRegistered waits until p is registered, with server when it is not empty.
func (p *testPeer) waitRegistered(t *testing.T, server string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := p.c.Status()
		if st.Registered && (server == "" || st.Server == server) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("peer not registered with %q after %v: %+v", server, timeout, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reaches checks that from looks up to and gets its candidate, and that an offer from
// from reaches to's Listen stream (within d, retrying while to has no stream open yet).
func reaches(t *testing.T, from, to *testPeer, wantCand string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var lastErr error
	for ctx.Err() == nil {
		reg, err := from.c.Lookup(ctx, to.key.Public())
		if err == nil && reg.GetPublicCandidates()[0].GetAddress() != wantCand {
			err = fmt.Errorf("lookup returned candidate %s, want %s", reg.GetPublicCandidates()[0].GetAddress(), wantCand)
		}
		if err == nil {
			nonce := make([]byte, 16)
			rand.Read(nonce)
			_, err = from.c.Connect(ctx, to.key.Public(), connectKind, from.candidates(), nonce)
			if err == nil && gotOffer(to, nonce, time.Second) {
				return
			}
			if err == nil {
				err = fmt.Errorf("Connect succeeded but the offer did not reach the target's Listen stream in 1s")
			}
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("peer not reachable within %v: %v", d, lastErr)
}

// gotOffer waits up to d for the offer with nonce on p's Listen stream.
func gotOffer(p *testPeer, nonce []byte, d time.Duration) bool {
	timeout := time.After(d)
	for {
		select {
		case o := <-p.offers:
			if string(o.Offer.GetPunchSecret()) == string(nonce) {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

// TestInstanceKilled kills (SIGKILL) the rendezvous process two peers use; both move to
// the second instance on the same Redis and stay reachable: Lookup and offers work.
func TestInstanceKilled(t *testing.T) {
	t.Parallel() // mostly waiting: failovers, keepalives
	r := redistest.Start(t)
	bin := buildRendezvous(t)
	a := startRendezvous(t, bin, "--redis", r.URL())
	b := startRendezvous(t, bin, "--redis", r.URL())
	alice := runPeer(t, []string{a.GRPC, b.GRPC}, "198.51.100.1:4000")
	bob := runPeer(t, []string{a.GRPC, b.GRPC}, "198.51.100.2:4000")
	alice.waitRegistered(t, a.GRPC, 10*time.Second)
	bob.waitRegistered(t, a.GRPC, 10*time.Second)
	reaches(t, bob, alice, "198.51.100.1:4000", 5*time.Second)

	killed := time.Now()
	a.Kill()
	alice.waitRegistered(t, b.GRPC, 10*time.Second)
	bob.waitRegistered(t, b.GRPC, 10*time.Second)
	t.Logf("both peers registered with the second instance %v after the kill", time.Since(killed).Round(time.Millisecond))
	reaches(t, bob, alice, "198.51.100.1:4000", 5*time.Second)
	reaches(t, alice, bob, "198.51.100.2:4000", 5*time.Second)
}

// grpcKeepalive makes a client notice a dead link in ~12 s: a ping after 10 s without
// traffic (the fastest the rendezvous allows), 2 s to answer.
var grpcKeepalive = grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 2 * time.Second, PermitWithoutStream: true})

// dialIn returns a gRPC dial option whose connections are opened inside n's network
// namespace, so an in-process peer sits in a lab home.
func dialIn(n *natlab.Node) grpc.DialOption {
	return grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		var c net.Conn
		err := n.Do(func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			return err
		})
		return c, err
	})
}

// TestPeerNetworkCut cuts the internet link of Alice's home (natlab: the internet
// router drops everything to and from it) for long enough that her client notices,
// then restores it: she registers again, with a new candidate as after a new NAT
// mapping, and Bob looks her up and reaches her Listen stream again.
func TestPeerNetworkCut(t *testing.T) {
	t.Parallel() // mostly waiting: failovers, keepalives
	lab := natlab.New(t, natlab.Config{Public: []string{"rv"},
		Homes: []natlab.Home{{Name: "a", NAT: natlab.PortRestricted}, {Name: "b", NAT: natlab.PortRestricted}}})
	rv := lab.Node("rv")
	addr := net.JoinHostPort(rv.Addr.String(), "7000")
	rv.Start(t, buildRendezvous(t), "--listen", addr, "--stun", ":3478", "--log-level", "warn")
	waitServing(t, addr, []grpc.DialOption{dialIn(lab.Node("b")), grpc.WithTransportCredentials(insecure.NewCredentials())})

	alice := runPeer(t, []string{addr}, "203.0.113.1:4000", dialIn(lab.Node("a")), grpcKeepalive)
	bob := runPeer(t, []string{addr}, "203.0.113.2:4000", dialIn(lab.Node("b")))
	alice.waitRegistered(t, addr, 10*time.Second)
	bob.waitRegistered(t, addr, 10*time.Second)
	reaches(t, bob, alice, "203.0.113.1:4000", 5*time.Second)

	ctx := context.Background()
	if err := lab.LinkDown(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	nonce := make([]byte, 16)
	rand.Read(nonce)
	_, err := bob.c.Connect(ctx, alice.key.Public(), connectKind, bob.candidates(), nonce)
	if gotOffer(alice, nonce, time.Second) {
		t.Fatal("an offer reached Alice while her link was down")
	}
	t.Logf("offer to Alice during the cut: Connect error %v, not delivered (the rendezvous cannot tell a silent link from a quiet one)", err)
	deadline := time.Now().Add(20 * time.Second)
	for alice.c.Status().Registered {
		if time.Now().After(deadline) {
			t.Fatal("Alice's client did not notice the cut in 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("Alice's client noticed the cut after %v", time.Since(cut).Round(time.Millisecond))

	alice.setCandidate("203.0.113.1:4999") // her router gives her a new mapping
	if err := lab.LinkUp(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	alice.waitRegistered(t, addr, 15*time.Second)
	t.Logf("Alice registered again %v after the link came back", time.Since(up).Round(time.Millisecond))
	reaches(t, bob, alice, "203.0.113.1:4999", 10*time.Second)
	reaches(t, alice, bob, "203.0.113.2:4000", 5*time.Second)
}
