package reach

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// recordLog keeps every record a logger got: its message and elapsed_ms, if any.
type recordLog struct {
	mu    sync.Mutex
	lines []logRecord // guards lines
}

type logRecord struct {
	msg string
	ms  float64
}

func (l *recordLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *recordLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *recordLog) WithGroup(string) slog.Handler            { return l }
func (l *recordLog) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{msg: r.Message}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "elapsed_ms" {
			rec.ms = a.Value.Float64()
		}
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, rec)
	l.mu.Unlock()
	return nil
}

// count is how many records said msg.
func (l *recordLog) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.lines {
		if r.msg == msg {
			n++
		}
	}
	return n
}

// TestStages: a find's stages are logged as "reach: STAGE" with the milliseconds since
// the find started; outside a find nothing is logged.
func TestStages(t *testing.T) {
	rec := &recordLog{}
	a := &Agent{log: slog.New(rec)}
	stage(context.Background(), "offer sent")
	if len(rec.lines) != 0 {
		t.Fatalf("a stage outside a find was logged: %v", rec.lines)
	}
	ctx := a.traceFind(context.Background(), mustKey(t).Public())
	f := ctx.Value(stagesKey{}).(*findStages)
	f.start = f.start.Add(-45 * time.Millisecond) // the find started 45 ms ago
	stage(ctx, "offer delivered")
	if len(rec.lines) != 1 || rec.lines[0].msg != "reach: offer delivered" {
		t.Fatalf("logged %v, want one line \"reach: offer delivered\"", rec.lines)
	}
	if ms := rec.lines[0].ms; ms < 45 || ms > 1000 {
		t.Errorf("elapsed_ms %v for a stage 45 ms into the find", ms)
	}
}
