package transport

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health/grpc_health_v1"
)

// TestFirstCallWithoutServerPreface: a gRPC client over a kith connection sends its
// first call right after its own preface, before the server has sent a byte (HTTP/2
// allows it; grpc-go alone would wait a round trip for the server's SETTINGS). The
// "server" here only reads: the call's HEADERS must reach it all the same.
func TestFirstCallWithoutServerPreface(t *testing.T) {
	server, _ := newTransport(t, key(t), false)
	client, _ := newTransport(t, key(t), false)
	ln, err := server.Listen()
	if err != nil {
		t.Fatal(err)
	}
	accepted := accept(t, ln)
	cc, err := client.Client(server.Addr(), server.cfg.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { // never answered: the server writes nothing
		_, _ = grpc_health_v1.NewHealthClient(cc).Check(ctx, &grpc_health_v1.HealthCheckRequest{}, grpc.WaitForReady(true))
	}()
	var c *Conn
	select {
	case c = <-accepted:
	case <-ctx.Done():
		t.Fatal("no connection accepted")
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c, preface); err != nil || !bytes.Equal(preface, []byte(http2.ClientPreface)) {
		t.Fatalf("client preface: %q, %v", preface, err)
	}
	fr := http2.NewFramer(io.Discard, c)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("before the call's HEADERS, while the server had sent nothing: %v", err)
		}
		if h, ok := f.(*http2.HeadersFrame); ok {
			if h.StreamID != 1 {
				t.Fatalf("first HEADERS on stream %d, want 1", h.StreamID)
			}
			return
		}
	}
}
