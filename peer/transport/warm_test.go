package transport

import (
	"context"
	"testing"
)

// TestWarm: the warm-up's handshake completes in memory with the transport's own key,
// and puts nothing on the transport's socket; a cancelled one reports it did not run.
func TestWarm(t *testing.T) {
	tr, cc := newTransport(t, key(t), true)
	if err := tr.Warm(context.Background()); err != nil {
		t.Fatalf("Warm: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.Warm(ctx); err == nil {
		t.Fatal("Warm with a cancelled context: no error, want the handshake's")
	}
	if n := cc.reads.Load(); n != 0 {
		t.Fatalf("the socket read %d packets during the warm-up", n)
	}
}
