package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

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
	certFile, keyFile, pool := selfSigned(t)
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

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns a pool trusting it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kith-rendezvous test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
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
