package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/tlstest"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/rendezvous/server"
)

func TestRateLimit(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{RateLimit: server.RateLimit{PerIP: 3, PerFingerprint: 2}})
	c := srv.Client(t)
	k := rendezvoustest.NewKey(t)
	register(t, c, k, time.Now())
	register(t, c, k, time.Now().Add(time.Millisecond))
	_, err := c.Register(ctxT(t), &rendezvousv1.RegisterRequest{Record: rendezvoustest.Registration(t, k, time.Now().Add(2*time.Millisecond), time.Minute)})
	wantCode(t, err, codes.ResourceExhausted, "rate limit exceeded: slow down and retry later (2 requests per 1m0s for fp:")
	_, err = c.Lookup(ctxT(t), &rendezvousv1.LookupRequest{Fingerprint: string(k.Public().Fingerprint())})
	wantCode(t, err, codes.ResourceExhausted, "client 127.0.0.1: rate limit exceeded")
}

func TestTLS(t *testing.T) {
	c := tlstest.SelfSigned(t)
	certFile, keyFile, pool := c.CertFile, c.KeyFile, c.Pool
	srv := rendezvoustest.Start(t, rendezvous.Config{TLSCert: certFile, TLSKey: keyFile})
	conn, err := grpc.NewClient(srv.GRPC, grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(pool, "")))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	register(t, rendezvousv1.NewRendezvousServiceClient(conn), rendezvoustest.NewKey(t), time.Now())
	_, err = srv.Client(t).Lookup(ctxT(t), &rendezvousv1.LookupRequest{Fingerprint: string(rendezvoustest.NewKey(t).Public().Fingerprint())})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("plaintext call to a TLS server: %v, want Unavailable", err)
	}
}

// TestConnectionLimits: a connection gets at most MaxStreams concurrent streams (more wait),
// while another connection is unaffected.
func TestConnectionLimits(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{MaxStreams: 1})
	c := srv.Client(t)
	listen(t, c, rendezvoustest.NewKey(t))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Lookup(ctx, &rendezvousv1.LookupRequest{Fingerprint: string(rendezvoustest.NewKey(t).Public().Fingerprint())})
	wantCode(t, err, codes.DeadlineExceeded, "")
	_, err = srv.Client(t).Lookup(ctxT(t), &rendezvousv1.LookupRequest{Fingerprint: string(rendezvoustest.NewKey(t).Public().Fingerprint())})
	wantCode(t, err, codes.NotFound, "no record")
}
