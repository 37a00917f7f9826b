package redistest

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRoundTrip stores and reads a key through a real redis-server with go-redis, stops
// the server, sees calls fail, restarts it on the same port and sees calls succeed.
func TestRoundTrip(t *testing.T) {
	s := Start(t)
	opt, err := redis.ParseURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx := context.Background()
	if err := rdb.Set(ctx, "kith:test", "hello", time.Minute).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if got, err := rdb.Get(ctx, "kith:test").Result(); err != nil || got != "hello" {
		t.Fatalf("GET = %q, %v; want hello", got, err)
	}
	if got, err := s.Do("GET", "kith:test"); err != nil || got != "hello" {
		t.Fatalf("harness GET = %q, %v; want hello", got, err)
	}
	s.Stop()
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Fatal("PING succeeded with the server stopped")
	}
	s.Restart()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after restart: %v", err)
	}
}

// TestCluster starts the six-node cluster and writes keys that land on all three
// masters, then kills a master and waits for its replica to take over.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster failover takes several seconds; run without -short")
	}
	c := StartCluster(t)
	if got := len(c.Masters()); got != 3 {
		t.Fatalf("%d masters, want 3", got)
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	defer rdb.Close()
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		if err := rdb.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	c.WaitReplicated(10 * time.Second)
	killed := c.KillMaster()
	c.WaitHealthy(20 * time.Second)
	if got := len(c.Masters()); got != 3 {
		t.Fatalf("after killing node %d: %d masters, want 3 (a replica should take over)", killed, got)
	}
	// The client learns the new slot owner on its next refresh; every key must come back.
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		deadline := time.Now().Add(15 * time.Second)
		for {
			got, err := rdb.Get(ctx, k).Result()
			if err == nil && got == k {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s after failover = %q, %v; want %q", k, got, err, k)
			}
			rdb.ReloadState(ctx)
			time.Sleep(100 * time.Millisecond)
		}
	}
}
