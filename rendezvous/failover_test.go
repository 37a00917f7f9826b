package rendezvous_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/rendezvous/server"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/redistest"
)

const connectKind = rendezvousv1.OfferKind_OFFER_KIND_CONNECT

// noRateLimit lets one loopback address make every call of a test.
var noRateLimit = server.RateLimit{PerIP: -1, PerFingerprint: -1}

// simPeer is a simulated peer: its key, the instance it uses, its last registration
// that the rendezvous accepted, and its Listen stream.
type simPeer struct {
	key    *identity.Key
	client rendezvousv1.RendezvousServiceClient

	mu     sync.Mutex
	lastTS time.Time // of the last registration signed, accepted or not
	last   *signedv1.Envelope
	offers chan *rendezvousv1.SealedOffer
	seen   sync.Map     // nonces of every offer received
	breaks atomic.Int64 // Listen streams that ended after they were ready
}

// register signs a fresh registration and remembers it when the rendezvous accepts it.
func (p *simPeer) register(t testing.TB, ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	ts := time.Now()
	if next := p.lastTS.Add(time.Millisecond); ts.Before(next) {
		ts = next // a refresh is always newer
	}
	p.lastTS = ts
	env := rendezvoustest.Registration(t, p.key, ts, time.Minute, "192.0.2.1:4000")
	if _, err := p.client.Register(ctx, &rendezvousv1.RegisterRequest{Record: env}); err != nil {
		return err
	}
	p.last = env
	return nil
}

func (p *simPeer) fp() identity.Fingerprint { return p.key.Public().Fingerprint() }

// listen keeps a Listen stream open for p until ctx ends, reopening it (with a fresh
// proof) when it fails, as peer/discovery does; offers go to p.offers.
func (p *simPeer) listen(t testing.TB, ctx context.Context, ready chan<- struct{}) {
	once := sync.Once{}
	for ctx.Err() == nil {
		st, err := p.client.Listen(ctx, &rendezvousv1.ListenRequest{Auth: rendezvoustest.Auth(t, p.key, identity.ContextListen, time.Now())})
		for err == nil {
			var m *rendezvousv1.ListenResponse
			if m, err = st.Recv(); err != nil {
				break
			}
			once.Do(func() { close(ready) })
			if m.GetOffer() != nil {
				p.seen.Store(string(m.GetOffer().GetNonce()), true)
				select {
				case p.offers <- m.GetOffer():
				default:
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
			p.breaks.Add(1)
		}
	}
}

// tally counts calls and failures, with the time span the failures cover.
type tally struct {
	calls, failed       atomic.Int64
	mu                  sync.Mutex
	firstFail, lastFail time.Time
	errs                map[string]int
}

func (c *tally) add(err error) {
	c.calls.Add(1)
	if err == nil {
		return
	}
	c.failed.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if c.firstFail.IsZero() {
		c.firstFail = now
	}
	c.lastFail = now
	if c.errs == nil {
		c.errs = map[string]int{}
	}
	c.errs[errKind(err)]++
}

func (c *tally) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := fmt.Sprintf("%d failed of %d", c.failed.Load(), c.calls.Load())
	if !c.firstFail.IsZero() {
		s += fmt.Sprintf(", failures over %v", c.lastFail.Sub(c.firstFail).Round(time.Millisecond))
	}
	for m, n := range c.errs {
		s += fmt.Sprintf("\n\t\t%d× %s", n, m)
	}
	return s
}

// TestClusterFailoverUnderLoad kills a Redis Cluster master while two rendezvous
// instances serve lookups, registrations and offers; a replica takes over. It reports
// the calls that failed during the failover, then checks that after every peer's next
// refresh each registration is there, byte for byte, and every listener gets offers.
func TestClusterFailoverUnderLoad(t *testing.T) {
	t.Parallel() // mostly waiting: failovers, keepalives
	cl := redistest.StartCluster(t)
	instances := []*rendezvoustest.Server{
		rendezvoustest.Start(t, rendezvous.Config{RedisCluster: cl.Addrs(), RateLimit: noRateLimit}),
		rendezvoustest.Start(t, rendezvous.Config{RedisCluster: cl.Addrs(), RateLimit: noRateLimit}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	const n = 60
	peers := make([]*simPeer, n)
	for i := range peers {
		p := &simPeer{key: rendezvoustest.NewKey(t), client: instances[i%2].Client(t), offers: make(chan *rendezvousv1.SealedOffer, 64)}
		if err := p.register(t, ctx); err != nil {
			t.Fatalf("register peer %d: %v", i, err)
		}
		ready := make(chan struct{})
		go p.listen(t, ctx, ready)
		<-ready
		peers[i] = p
	}
	checkOneSlotPerKey(t, cl)

	var lookups, registers, offers tally
	type sent struct {
		to    *simPeer
		offer *rendezvousv1.SealedOffer
	}
	var acceptedMu sync.Mutex
	var accepted []sent
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loadCtx.Err() == nil {
				p := peers[rand.IntN(n)]
				cctx, cancel := context.WithTimeout(loadCtx, 3*time.Second)
				switch w % 3 {
				case 0:
					_, err := instances[w%2].Client(t).Lookup(cctx, &rendezvousv1.LookupRequest{Fingerprint: string(p.fp())})
					lookups.add(ignoreCancel(loadCtx, err))
				case 1:
					registers.add(ignoreCancel(loadCtx, p.register(t, cctx)))
				case 2:
					offer := rendezvoustest.Offer(t, p.fp(), time.Now())
					_, err := instances[w%2].Client(t).Connect(cctx, &rendezvousv1.ConnectRequest{TargetFingerprint: string(p.fp()), Offer: offer})
					offers.add(ignoreCancel(loadCtx, err))
					if err == nil {
						acceptedMu.Lock()
						accepted = append(accepted, sent{p, offer})
						acceptedMu.Unlock()
					}
				}
				cancel()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}

	time.Sleep(time.Second)
	cl.WaitReplicated(10 * time.Second)
	before := [3]int64{lookups.calls.Load(), registers.calls.Load(), offers.calls.Load()}
	killed := cl.KillMaster()
	start := time.Now()
	cl.WaitHealthy(20 * time.Second)
	failover := time.Since(start)
	time.Sleep(2 * time.Second) // load goes on after the replica took over
	stopLoad()
	wg.Wait()
	t.Logf("master node %d killed; cluster healthy again after %v", killed, failover.Round(time.Millisecond))
	t.Logf("lookups:       %v (%d before the kill)", &lookups, before[0])
	t.Logf("registrations: %v (%d before the kill)", &registers, before[1])
	t.Logf("offers:        %v (%d before the kill)", &offers, before[2])
	if lookups.calls.Load()-before[0] < 10 || registers.calls.Load()-before[1] < 10 || offers.calls.Load()-before[2] < 10 {
		t.Fatal("the load did not go on during and after the failover")
	}

	// No Listen stream ended, and every offer that Connect accepted reached its listener:
	// in-flight offers were either delivered or reported failed to their caller.
	for i, p := range peers {
		if n := p.breaks.Load(); n > 0 {
			t.Errorf("peer %d: its Listen stream broke %d times during the failover", i, n)
		}
	}
	undelivered := 0
	deadline := time.Now().Add(5 * time.Second)
	for _, a := range accepted {
		for {
			if _, ok := a.to.seen.Load(string(a.offer.GetNonce())); ok {
				break
			}
			if time.Now().After(deadline) {
				undelivered++
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("%d offers accepted, %d of them not delivered", len(accepted), undelivered)
	if undelivered > 0 {
		t.Errorf("%d accepted offers never reached their Listen stream", undelivered)
	}

	lost := 0
	for _, p := range peers {
		resp, err := instances[0].Client(t).Lookup(ctx, &rendezvousv1.LookupRequest{Fingerprint: string(p.fp())})
		if err != nil || !proto.Equal(resp.GetRecord(), p.last) {
			lost++
		}
	}
	t.Logf("before the next refresh: %d of %d registrations missing or older than the last accepted one (asynchronous replication)", lost, n)

	for i, p := range peers { // each peer's next refresh
		if err := p.register(t, ctx); err != nil {
			t.Fatalf("peer %d: refresh after the failover: %v", i, err)
		}
	}
	for i, p := range peers {
		for _, inst := range instances {
			resp, err := inst.Client(t).Lookup(ctx, &rendezvousv1.LookupRequest{Fingerprint: string(p.fp())})
			if err != nil || !proto.Equal(resp.GetRecord(), p.last) {
				t.Fatalf("peer %d after its refresh, via %s: lookup = %v; want its last registration byte for byte", i, inst.GRPC, err)
			}
		}
	}
	checkOffersReachEveryone(t, ctx, instances, peers)
}

// checkOffersReachEveryone sends one offer to each listener through the instance it
// does not use; every listener must get it (after resubscribing, within 10 s).
func checkOffersReachEveryone(t *testing.T, ctx context.Context, instances []*rendezvoustest.Server, peers []*simPeer) {
	t.Helper()
	for i, p := range peers {
		for len(p.offers) > 0 {
			<-p.offers
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			offer := rendezvoustest.Offer(t, p.fp(), time.Now())
			_, err := instances[(i+1)%2].Client(t).Connect(ctx, &rendezvousv1.ConnectRequest{TargetFingerprint: string(p.fp()), Offer: offer})
			if err == nil {
				if got := waitOffer(p.offers, offer, 5*time.Second); got {
					break
				}
				t.Fatalf("peer %d: Connect succeeded but the offer did not reach its Listen stream in 5s", i)
			}
			if time.Now().After(deadline) {
				t.Fatalf("peer %d: offers still fail 10s after the failover: %v", i, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// waitOffer reads ch until want arrives or d passes.
func waitOffer(ch <-chan *rendezvousv1.SealedOffer, want *rendezvousv1.SealedOffer, d time.Duration) bool {
	timeout := time.After(d)
	for {
		select {
		case got := <-ch:
			if proto.Equal(got, want) {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

// ignoreCancel drops the error of a call that the end of the load cut short.
func ignoreCancel(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// checkOneSlotPerKey scans every master: every command of the store touches one key
// (a peer's key, or a hash-tagged one), and the keys spread over all three masters.
func checkOneSlotPerKey(t *testing.T, cl *redistest.Cluster) {
	t.Helper()
	for _, i := range cl.Masters() {
		c := redis.NewClient(&redis.Options{Addr: cl.Nodes[i].Addr()})
		keys, err := c.Keys(context.Background(), "*").Result()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) == 0 {
			t.Errorf("master %d holds no keys: the keys do not spread over the slots", i)
		}
		for _, k := range keys {
			if strings.HasPrefix(k, "kith:r:") && len(k) == len("kith:r:")+32 {
				continue // a peer's key: its record and its counter
			}
			open, close := strings.Index(k, "{"), strings.Index(k, "}")
			if !strings.HasPrefix(k, "kith:rdv:{") || close < open+2 {
				t.Errorf("key %q is neither a peer's key nor hash-tagged", k)
			}
		}
	}
}

// errKind is err without the names in it: its gRPC code and its innermost cause.
func errKind(err error) string {
	st, _ := status.FromError(err)
	msg := st.Message()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return st.Code().String() + ": " + msg
}
