package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/redistest"
)

// pubsubClients counts the pub/sub connections a Redis node serves.
func pubsubClients(t *testing.T, s *redistest.Server) int {
	t.Helper()
	list, err := s.Do("CLIENT", "LIST", "TYPE", "pubsub")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(list, "id=")
}

// subscribeMany subscribes n fresh fingerprints and checks each gets what is published.
func subscribeMany(t *testing.T, r *Redis, n int) ([]identity.Fingerprint, []Subscription) {
	t.Helper()
	ctx := context.Background()
	fps, subs := make([]identity.Fingerprint, n), make([]Subscription, n)
	for i := range n {
		fps[i] = identity.Fingerprint(fmt.Sprintf("fp%06d", i))
		sub, err := r.Subscribe(ctx, fps[i])
		must(t, err)
		t.Cleanup(func() { sub.Close() })
		subs[i] = sub
	}
	checkDelivery(t, r, fps, subs, time.Second)
	return fps, subs
}

// checkDelivery publishes to every fingerprint (retrying ErrNoListener for up to
// retry) and expects each message on its subscription.
func checkDelivery(t *testing.T, r *Redis, fps []identity.Fingerprint, subs []Subscription, retry time.Duration) {
	t.Helper()
	ctx := context.Background()
	for i, fp := range fps {
		want := fmt.Sprintf("offer to %d at %d", i, time.Now().UnixNano())
		deadline := time.Now().Add(retry)
		for {
			err := r.Publish(ctx, fp, []byte(want))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish to subscriber %d: %v", i, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		select {
		case got := <-subs[i].Messages():
			if string(got) != want {
				t.Fatalf("subscriber %d got %q, want %q", i, got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("subscriber %d: an accepted publish was not delivered in 5s", i)
		}
	}
}

// TestRedisOneConnectionForAllSubscriptions: 300 subscriptions of one store use one
// pub/sub connection, and leaving them all unsubscribes every channel.
func TestRedisOneConnectionForAllSubscriptions(t *testing.T) {
	srv := redistest.Start(t)
	r, err := Dial(srv.URL(), nil)
	must(t, err)
	t.Cleanup(func() { r.Close() })
	fps, subs := subscribeMany(t, r, 300)
	if n := pubsubClients(t, srv); n != 1 {
		t.Fatalf("300 subscriptions hold %d pub/sub connections, want 1", n)
	}
	for _, s := range subs {
		must(t, s.Close())
	}
	for _, fp := range fps {
		if err := r.Publish(context.Background(), fp, []byte("late")); err != ErrNoListener {
			t.Fatalf("publish after every subscription closed: %v, want ErrNoListener", err)
		}
	}
}

// TestRedisClusterOneConnectionPerNode: on a Cluster, subscriptions spread over the
// masters and each master serves at most one pub/sub connection of the store.
func TestRedisClusterOneConnectionPerNode(t *testing.T) {
	cl := redistest.StartCluster(t)
	r, err := Dial("", cl.Addrs())
	must(t, err)
	t.Cleanup(func() { r.Close() })
	subscribeMany(t, r, 200)
	total := 0
	for _, i := range cl.Masters() {
		n := pubsubClients(t, cl.Nodes[i])
		if n != 1 {
			t.Errorf("master %d serves %d pub/sub connections of one store, want 1", i, n)
		}
		total += n
	}
	if total != 3 {
		t.Fatalf("%d pub/sub connections over 3 masters, want 3", total)
	}
}

// TestRedisClusterFailoverKeepsSubscriptions kills a master: every subscription lives
// on (no Messages channel closes), and once a replica took over each one receives again.
func TestRedisClusterFailoverKeepsSubscriptions(t *testing.T) {
	cl := redistest.StartCluster(t)
	r, err := Dial("", cl.Addrs())
	must(t, err)
	t.Cleanup(func() { r.Close() })
	fps, subs := subscribeMany(t, r, 60)
	cl.WaitReplicated(10 * time.Second)
	killed := cl.KillMaster()
	cl.WaitHealthy(20 * time.Second)
	t.Logf("master %d killed; cluster healthy again", killed)
	checkDelivery(t, r, fps, subs, 10*time.Second)
	for i, s := range subs {
		select {
		case m, ok := <-s.Messages():
			if !ok {
				t.Fatalf("subscription %d ended with the failover", i)
			}
			t.Fatalf("subscription %d: unexpected message %q", i, m)
		default:
		}
	}
}
