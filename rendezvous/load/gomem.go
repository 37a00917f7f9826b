package load

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// goMem is what an instance's Go runtime says about its memory, read from its
// /metrics: where the RSS goes (live heap, the heap's spans, goroutine stacks), so a
// per-stream figure can be split into its parts.
type goMem struct {
	heapAlloc  int64 // bytes of live and not yet collected heap objects
	heapLive   int64 // bytes of heap objects live after the last GC
	heapInuse  int64 // bytes in heap spans holding objects
	stacks     int64 // bytes of goroutine stacks (and the spans they use)
	goroutines int64
	nextGC     int64 // heap size at which the next GC starts
	limit      int64 // the memory limit (math.MaxInt64: none)
}

// goMemSeries maps the Prometheus Go collector's series to goMem's fields.
var goMemSeries = map[string]func(*goMem) *int64{
	"go_memstats_heap_alloc_bytes":  func(m *goMem) *int64 { return &m.heapAlloc },
	"go_memstats_heap_inuse_bytes":  func(m *goMem) *int64 { return &m.heapInuse },
	"go_gc_heap_live_bytes":         func(m *goMem) *int64 { return &m.heapLive },
	"go_memstats_stack_inuse_bytes": func(m *goMem) *int64 { return &m.stacks },
	"go_goroutines":                 func(m *goMem) *int64 { return &m.goroutines },
	"go_memstats_next_gc_bytes":     func(m *goMem) *int64 { return &m.nextGC },
	"go_gc_gomemlimit_bytes":        func(m *goMem) *int64 { return &m.limit },
}

// parseGoMem reads the series goMem needs from a Prometheus text exposition; a series
// that is missing leaves its field zero.
func parseGoMem(r io.Reader) (goMem, error) {
	var m goMem
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		field := goMemSeries[name]
		if !ok || field == nil {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return goMem{}, fmt.Errorf("metrics: %s: %w", name, err)
		}
		if f >= math.MaxInt64 {
			*field(&m) = math.MaxInt64 // "no memory limit", which a float64 rounds up past int64
		} else {
			*field(&m) = int64(f)
		}
	}
	return m, sc.Err()
}

// scrapeGoMem fetches http://addr/metrics.
func scrapeGoMem(ctx context.Context, addr string) (goMem, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return goMem{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return goMem{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return goMem{}, fmt.Errorf("metrics on %s: %s", addr, resp.Status)
	}
	return parseGoMem(resp.Body)
}
