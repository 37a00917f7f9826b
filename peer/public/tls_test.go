package public_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"testing"

	"github.com/kithnet/kith/shared/tlstest"

	"github.com/kithnet/kith/peer/public"
)

// TestServeTLS: with a certificate and key, the face is served over TLS only.
func TestServeTLS(t *testing.T) {
	c := tlstest.SelfSigned(t)
	certFile, keyFile, pool := c.CertFile, c.KeyFile, c.Pool
	f := newFixture(t, public.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- public.ServeListener(ctx, ln, public.NewServer("", f.h), certFile, keyFile) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeListener: %v", err)
		}
	})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res, err := client.Get("https://" + ln.Addr().String() + "/robots.txt")
	if err != nil {
		t.Fatalf("GET over TLS: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.TLS == nil {
		t.Errorf("GET over TLS: %d, TLS %v", res.StatusCode, res.TLS != nil)
	}
}
