package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDemo runs deploy/demo.sh, what `make demo` runs, on the binaries built for these
// tests: two peers find each other through a rendezvous by ID alone, and Bob's timeline
// shows Alice's photo post, synced over a direct path, within the minute the issue allows.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "../../deploy/demo.sh")
	cmd.Env = append(cmd.Environ(), "BIN="+binDir)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("demo took %v", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("deploy/demo.sh: %v\n%s", err, out)
	}
	for _, want := range []string{"Sunset from the hill tonight #photo", "sunset.png", "(registered, seen as ", "(direct)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
