package server_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/rendezvous/server"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/redistest"
)

func TestTwoInstancesOneRedis(t *testing.T) {
	checkTwoInstances(t, rendezvous.Config{RedisURL: redistest.Start(t).URL()})
}

// TestTwoInstancesOneCluster is TestTwoInstancesOneRedis on a Redis Cluster: offers
// cross instances by sharded pub/sub.
func TestTwoInstancesOneCluster(t *testing.T) {
	checkTwoInstances(t, rendezvous.Config{RedisCluster: redistest.StartCluster(t).Addrs()})
}

// checkTwoInstances runs two instances on the store of cfg: a peer registered and
// listening on A is looked up and offered to through B.
func checkTwoInstances(t *testing.T, cfg rendezvous.Config) {
	a := rendezvoustest.Start(t, cfg)
	b := rendezvoustest.Start(t, cfg)
	checkListenConnect(t, a.Client(t), b.Client(t))
	k := rendezvoustest.NewKey(t)
	env := register(t, a.Client(t), k, time.Now())
	assertStored(t, b.Client(t), k, env)

	// Two Listens for one key started at once on two instances: exactly one survives,
	// and it gets the offers.
	checkOneListenSurvives(t, k, a.Client(t), b.Client(t))
}

func checkOneListenSurvives(t *testing.T, k *identity.Key, clients ...rendezvousv1.RendezvousServiceClient) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	aborted, offers := make(chan int, len(clients)), make(chan int, len(clients))
	for i, c := range clients {
		auth := rendezvoustest.Auth(t, k, ctxListen, time.Now())
		go func() {
			st, err := c.Listen(ctx, &rendezvousv1.ListenRequest{Auth: auth})
			for err == nil {
				var m *rendezvousv1.ListenResponse
				if m, err = st.Recv(); err == nil && m.GetOffer() != nil {
					offers <- i
				}
			}
			if status.Code(err) == codes.Aborted {
				aborted <- i
			}
		}()
	}
	select {
	case <-aborted:
	case <-time.After(5 * time.Second):
		t.Fatal("both Listens for one key still open after 5s")
	}
	fp := k.Public().Fingerprint()
	offer := rendezvoustest.Offer(t, fp, time.Now())
	if _, err := clients[0].Connect(ctxT(t), &rendezvousv1.ConnectRequest{TargetFingerprint: string(fp), Offer: offer}); err != nil {
		t.Fatalf("connect to the surviving Listen: %v", err)
	}
	select {
	case <-offers:
	case i := <-aborted:
		t.Fatalf("the other Listen (%d) ended too; want one to survive", i)
	case <-time.After(5 * time.Second):
		t.Fatal("the surviving Listen got no offer in 5s")
	}
	select {
	case i := <-offers:
		t.Fatalf("Listen %d got the offer too; want exactly one listener", i)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestRedisOutage(t *testing.T) {
	r := redistest.Start(t)
	srv := rendezvoustest.Start(t, rendezvous.Config{RedisURL: r.URL(), HealthInterval: 100 * time.Millisecond})
	c := srv.Client(t)
	k := rendezvoustest.NewKey(t)
	fp := string(k.Public().Fingerprint())
	register(t, c, k, time.Now())
	st := listen(t, c, k)

	r.Stop()
	waitHealth(t, srv, healthpb.HealthCheckResponse_NOT_SERVING)
	_, err := c.Lookup(ctxT(t), &rendezvousv1.LookupRequest{Fingerprint: fp})
	wantCode(t, err, codes.Unavailable, "store unavailable")
	_, err = c.Register(ctxT(t), &rendezvousv1.RegisterRequest{Record: rendezvoustest.Registration(t, k, time.Now(), time.Minute)})
	wantCode(t, err, codes.Unavailable, "store unavailable")

	r.Restart() // an empty Redis: the peer registers again, as it does every TTL
	waitHealth(t, srv, healthpb.HealthCheckResponse_SERVING)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.Register(ctxT(t), &rendezvousv1.RegisterRequest{Record: rendezvoustest.Registration(t, k, time.Now(), time.Minute)})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("register still failing 10s after Redis came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := c.Lookup(ctxT(t), &rendezvousv1.LookupRequest{Fingerprint: fp}); err != nil {
		t.Fatalf("lookup after Redis restart: %v", err)
	}
	// The Listen stream opened before the outage resubscribes by itself and gets offers.
	deadline = time.Now().Add(10 * time.Second)
	for {
		offer := rendezvoustest.Offer(t, k.Public().Fingerprint(), time.Now())
		_, err := c.Connect(ctxT(t), &rendezvousv1.ConnectRequest{TargetFingerprint: fp, Offer: offer})
		if err == nil {
			if got := recvOffer(t, st); !proto.Equal(got.GetOffer(), offer) {
				t.Fatal("the listener got another offer than the one sent")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connect to a listener still failing 10s after Redis came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitHealth waits up to 10 s for the gRPC health status want.
func waitHealth(t *testing.T, srv *rendezvoustest.Server, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	conn, err := grpc.NewClient(srv.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := hc.Check(ctxT(t), &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health = %v, %v after 10s; want %v", resp.GetStatus(), err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRateLimitSharedThroughRedis: the per-key budget is one budget across instances.
func TestRateLimitSharedThroughRedis(t *testing.T) {
	r := redistest.Start(t)
	limits := server.RateLimit{PerFingerprint: 2}
	a := rendezvoustest.Start(t, rendezvous.Config{RedisURL: r.URL(), RateLimit: limits})
	b := rendezvoustest.Start(t, rendezvous.Config{RedisURL: r.URL(), RateLimit: limits})
	k := rendezvoustest.NewKey(t)
	register(t, a.Client(t), k, time.Now())
	register(t, b.Client(t), k, time.Now().Add(time.Millisecond))
	_, err := a.Client(t).Register(ctxT(t), &rendezvousv1.RegisterRequest{Record: rendezvoustest.Registration(t, k, time.Now().Add(2*time.Millisecond), time.Minute)})
	wantCode(t, err, codes.ResourceExhausted, "rate limit exceeded")
}

// TestIPBudgetInChunks: calls of one IP reach Redis in chunks of a fiftieth of the
// limit (one round trip per chunk, none for an address seen once), and the shared
// budget still refuses past the limit.
func TestIPBudgetInChunks(t *testing.T) {
	r := redistest.Start(t)
	const limit = 200 // chunk 4
	c := rendezvoustest.Start(t, rendezvous.Config{RedisURL: r.URL(), RateLimit: server.RateLimit{PerIP: limit, PerFingerprint: -1}}).Client(t)
	fp := string(rendezvoustest.NewKey(t).Public().Fingerprint())
	lookup := func() error {
		_, err := c.Lookup(ctxT(t), &rendezvousv1.LookupRequest{Fingerprint: fp})
		if status.Code(err) == codes.NotFound {
			return nil
		}
		return err
	}
	count := func() string {
		v, err := r.Do("GET", "kith:rdv:{ip:127.0.0.1}:rate")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for range 3 {
		if err := lookup(); err != nil {
			t.Fatal(err)
		}
	}
	if got := count(); got != "" {
		t.Fatalf("after 3 calls (chunk 4) Redis counts %q, want nothing yet", got)
	}
	if err := lookup(); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != "4" {
		t.Fatalf("after 4 calls Redis counts %q, want 4", got)
	}
	n := 4
	for ; n < 2*limit; n++ {
		if err := lookup(); err != nil {
			wantCode(t, err, codes.ResourceExhausted, "rate limit exceeded")
			break
		}
	}
	if n < limit || n > limit+3 {
		t.Fatalf("refused after %d calls; want between %d and %d (limit %d, chunk 4)", n, limit, limit+3, limit)
	}
}
