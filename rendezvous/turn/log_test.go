package turn

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// stringer counts how often it is formatted.
type stringer struct{ calls *int }

func (s stringer) String() string { *s.calls++; return "addr" }

// TestLogFormatsOnlyWhatIsKept: pion's per-datagram Debugf lines cost nothing when debug
// is off (their arguments are never formatted); a kept line is formatted once, and
// pion's warnings and errors go to Info.
func TestLogFormatsOnlyWhatIsKept(t *testing.T) {
	var buf bytes.Buffer
	l := slogFactory{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}.NewLogger("allocation")
	calls := 0
	for range 3 {
		l.Tracef("relaying from %s", stringer{&calls})
		l.Debugf("relay socket received %d bytes from %s", 12, stringer{&calls})
		l.Infof("listening on %s", stringer{&calls})
	}
	if calls != 0 || buf.Len() != 0 {
		t.Fatalf("lines below the level: %d arguments formatted, logged %q", calls, buf.String())
	}
	l.Errorf("failed to handle datagram from %s", stringer{&calls})
	l.Warnf("odd packet from %s", stringer{&calls})
	if calls != 2 || !strings.Contains(buf.String(), "level=INFO msg=\"failed to handle datagram from addr\"") ||
		!strings.Contains(buf.String(), "odd packet from addr") || !strings.Contains(buf.String(), "component=pion/allocation") {
		t.Fatalf("kept lines: %d arguments formatted, logged %q", calls, buf.String())
	}
}
