package load

import (
	"errors"
	"math"
	"strings"
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

func TestParseGoMem(t *testing.T) {
	tests := []struct {
		name, in string
		want     goMem
		wantErr  bool
	}{
		{name: "all series", in: `# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 20042
go_gc_heap_live_bytes 8.31806e+07
go_memstats_heap_alloc_bytes 9.2894072e+07
go_memstats_heap_inuse_bytes 1.05127936e+08
go_memstats_stack_inuse_bytes 9.3650944e+07
go_memstats_next_gc_bytes 1.54e+08
go_gc_gomemlimit_bytes 9.223372036854776e+18
go_memstats_heap_alloc_bytes_total 1
kith_rendezvous_listen_streams 5000
`, want: goMem{heapAlloc: 92894072, heapLive: 83180600, heapInuse: 105127936, stacks: 93650944, goroutines: 20042, nextGC: 154000000, limit: math.MaxInt64}},
		{name: "missing series stay zero", in: "go_goroutines 7\n", want: goMem{goroutines: 7}},
		{name: "bad value", in: "go_goroutines seven\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Helper()
			got, err := parseGoMem(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Fatalf("parseGoMem = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPerStream(t *testing.T) {
	before := goMem{heapLive: 1 << 20, heapAlloc: 2 << 20, heapInuse: 3 << 20, stacks: 1 << 20, goroutines: 10}
	after := goMem{heapLive: 11 << 20, heapAlloc: 12 << 20, heapInuse: 23 << 20, stacks: 41 << 20, goroutines: 4010, nextGC: 100 << 20, limit: 200 << 20}
	got := perStream(before, after, 1024)
	want := "heap live at the last GC 10.0 KB, heap allocated 10.0 KB, heap spans 20.0 KB, stacks 40.0 KB, 3.91 goroutines; next GC at 100 MB, memory limit 200 MB"
	if got != want {
		t.Fatalf("perStream =\n%s\nwant\n%s", got, want)
	}
}
