package public_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
	"github.com/kithnet/kith/shared/identity"
)

// TestServeCutsSlowClients runs the real server: a client that never finishes its
// headers is disconnected after ReadHeaderTimeout, a normal one is served, and cancelling
// the context shuts the server down cleanly.
func TestServeCutsSlowClients(t *testing.T) {
	f := newFixture(t, public.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := public.NewServer(ln.Addr().String(), f.h)
	if srv.ReadHeaderTimeout != public.ReadHeaderTimeout || srv.WriteTimeout == 0 || srv.IdleTimeout == 0 || srv.MaxHeaderBytes == 0 {
		t.Fatalf("NewServer leaves a timeout unset: %+v", srv)
	}
	srv.ReadHeaderTimeout = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- public.ServeListener(ctx, ln, srv, "", "") }()

	slow, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "GET / HTTP/1.1\r\nHost: x\r\n") // and never the blank line
	slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = io.ReadAll(slow)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("a slow client kept its connection for %v", time.Since(start))
	}

	res, err := http.Get("http://" + ln.Addr().String() + "/robots.txt")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("GET /robots.txt over the real server: %d", res.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeListener after cancel: %v, want nil", err)
		}
	case <-time.After(public.ShutdownGrace + time.Second):
		t.Fatal("ServeListener did not return after cancel")
	}
}

func TestServeRefusesHalfTLS(t *testing.T) {
	if err := public.Serve(context.Background(), "127.0.0.1:0", "cert.pem", "", http.NotFoundHandler()); err == nil {
		t.Error("Serve with a certificate and no key: nil error")
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := public.NewHandler(public.Config{}); err == nil {
		t.Error("NewHandler without a Source: nil error")
	}
	for _, base := range []string{"alice.example", "ftp://alice.example", "https://alice.example/?x=1", "https://"} {
		if _, err := public.NewHandler(public.Config{Source: publictest.NewMemory(identity.PublicKey{}), BaseURL: base}); err == nil {
			t.Errorf("NewHandler with BaseURL %q: nil error", base)
		}
	}
}
