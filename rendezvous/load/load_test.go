package load

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestLatencies(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	got := latencies(d)
	if got.N != 100 || got.P50 != 51*time.Millisecond || got.P99 != 100*time.Millisecond {
		t.Fatalf("latencies(1..100 ms) = %+v, want n=100 p50=51ms p99=100ms", got)
	}
	if d[0] != 100*time.Millisecond {
		t.Fatal("latencies sorted its argument in place")
	}
	if got := latencies(nil); got != (Latencies{}) {
		t.Fatalf("latencies(nil) = %+v, want zero", got)
	}
}

func TestParallelN(t *testing.T) {
	var n atomic.Int64
	if err := parallelN(1000, 7, func(int) error { n.Add(1); return nil }); err != nil || n.Load() != 1000 {
		t.Fatalf("parallelN ran %d of 1000 calls, err %v", n.Load(), err)
	}
	boom := errors.New("boom")
	n.Store(0)
	err := parallelN(1_000_000, 4, func(i int) error {
		n.Add(1)
		if i == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || n.Load() > 1000 {
		t.Fatalf("parallelN after an error: err %v after %d calls; want boom, and a prompt stop", err, n.Load())
	}
}
