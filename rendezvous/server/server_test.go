package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/rendezvous/server"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/redistest"
	"github.com/kithnet/kith/shared/signed"
)

var (
	connectKind = rendezvousv1.OfferKind_OFFER_KIND_CONNECT
	ctxListen   = identity.ContextListen
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantCode fails t unless err is a status with code and a message containing substr.
func wantCode(t *testing.T, err error, code codes.Code, substr string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code || !strings.Contains(st.Message(), substr) {
		t.Fatalf("got %v: %q; want %v with a message containing %q", st.Code(), st.Message(), code, substr)
	}
}

func register(t *testing.T, c rendezvousv1.RendezvousServiceClient, k *identity.Key, ts time.Time) *signedv1.Envelope {
	t.Helper()
	env := rendezvoustest.Registration(t, k, ts, 60*time.Second, "192.0.2.1:4000", "[2001:db8::1]:4000")
	if _, err := c.Register(ctxT(t), &rendezvousv1.RegisterRequest{Record: env}); err != nil {
		t.Fatalf("register: %v", err)
	}
	return env
}

func TestRegisterLookupUnregister(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret"})
	c := srv.Client(t)
	ctx := ctxT(t)
	k := rendezvoustest.NewKey(t)
	fp := k.Public().Fingerprint()
	env := rendezvoustest.Registration(t, k, time.Now(), 5*time.Second, "192.0.2.1:4000")
	resp, err := c.Register(ctx, &rendezvousv1.RegisterRequest{Record: env})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetTtlSeconds() != 30 {
		t.Errorf("TTL 5s stored as %ds, want clamped to 30", resp.GetTtlSeconds())
	}
	if !strings.HasPrefix(resp.GetObservedAddress(), "127.0.0.1:") {
		t.Errorf("observed address %q, want 127.0.0.1:port", resp.GetObservedAddress())
	}
	if len(resp.GetStunUris()) != 1 || resp.GetStunUris()[0] != "stun:"+srv.STUN || len(resp.GetTurnUris()) != 1 {
		t.Errorf("URIs %v %v, want stun:%s and one turn: URI", resp.GetStunUris(), resp.GetTurnUris(), srv.STUN)
	}
	got, err := c.Lookup(ctx, &rendezvousv1.LookupRequest{Fingerprint: string(fp)})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got.GetRecord(), env) {
		t.Fatal("lookup did not return the record byte for byte")
	}
	var reg rendezvousv1.Registration
	if _, err := signed.OpenFromFingerprint(got.GetRecord(), identity.ContextRegistration, fp, &reg); err != nil {
		t.Fatalf("looked-up record does not verify: %v", err)
	}
	if _, err := c.Unregister(ctx, &rendezvousv1.UnregisterRequest{Auth: rendezvoustest.Auth(t, k, identity.ContextUnregister, time.Now())}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Lookup(ctx, &rendezvousv1.LookupRequest{Fingerprint: string(fp)})
	wantCode(t, err, codes.NotFound, "no record")
}

func TestTurnCredentials(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret"})
	c := srv.Client(t)
	k := rendezvoustest.NewKey(t)
	ask := func() (*rendezvousv1.TurnCredentialsResponse, error) {
		return c.TurnCredentials(ctxT(t), &rendezvousv1.TurnCredentialsRequest{
			Auth: rendezvoustest.Auth(t, k, identity.ContextTurnCredentials, time.Now())})
	}
	_, err := ask()
	wantCode(t, err, codes.FailedPrecondition, "Register first")
	register(t, c, k, time.Now())
	cred, err := ask()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(cred.GetUsername(), ":"+string(k.Public().Fingerprint())) || cred.GetPassword() == "" || len(cred.GetUris()) == 0 {
		t.Fatalf("credentials %+v: want expiry:fingerprint, a password and URIs", cred)
	}
	// A proof signed for another purpose does not buy credentials.
	_, err = c.TurnCredentials(ctxT(t), &rendezvousv1.TurnCredentialsRequest{Auth: rendezvoustest.Auth(t, k, ctxListen, time.Now())})
	wantCode(t, err, codes.Unauthenticated, "signature does not verify")
}

// TestBadInput sends each kind of bad request and checks it is refused with its own
// status and message, and that the stored record is unchanged.
func TestBadInput(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{})
	c := srv.Client(t)
	k, other := rendezvoustest.NewKey(t), rendezvoustest.NewKey(t)
	now := time.Now()
	stored := register(t, c, k, now)

	reg := func(ts time.Time, cands ...string) *signedv1.Envelope {
		return rendezvoustest.Registration(t, k, ts, time.Minute, cands...)
	}
	forged := reg(now.Add(time.Second))
	forged.Signature[0] ^= 1
	mismatch := signed.SealBytes(other, identity.ContextRegistration, reg(now.Add(time.Second)).Payload)
	many := make([]string, 17)
	for i := range many {
		many[i] = fmt.Sprintf("192.0.2.1:%d", 4000+i)
	}
	big := signed.SealBytes(k, identity.ContextRegistration, bytes.Repeat([]byte{0}, 5<<10))
	garbage := signed.SealBytes(k, identity.ContextRegistration, []byte("\xff\xff\xff not a protobuf"))
	wrongCtx := signed.SealBytes(k, identity.ContextOffer, reg(now.Add(time.Second)).Payload)

	for _, tc := range []struct {
		name   string
		env    *signedv1.Envelope
		code   codes.Code
		substr string
	}{
		{"forged signature", forged, codes.Unauthenticated, "signature does not verify"},
		{"signed for another purpose", wrongCtx, codes.Unauthenticated, "signature does not verify"},
		{"key/fingerprint mismatch", mismatch, codes.PermissionDenied, "signed by the wrong key"},
		{"replayed same record", stored, codes.AlreadyExists, "not newer"},
		{"replayed older record", reg(now.Add(-time.Second)), codes.AlreadyExists, "not newer"},
		{"stale timestamp", reg(now.Add(-2 * time.Minute)), codes.InvalidArgument, "clock window"},
		{"future timestamp", reg(now.Add(2 * time.Minute)), codes.InvalidArgument, "clock window"},
		{"too many candidates", reg(now.Add(time.Second), many...), codes.InvalidArgument, "too many candidates: 17, at most 16"},
		{"bad candidate", reg(now.Add(time.Second), "example.com:80"), codes.InvalidArgument, "not a valid ip:port"},
		{"port zero", reg(now.Add(time.Second), "192.0.2.1:0"), codes.InvalidArgument, "not a valid ip:port"},
		{"oversized payload", big, codes.InvalidArgument, "too large"},
		{"garbage payload", garbage, codes.InvalidArgument, "does not parse"},
		{"missing record", nil, codes.InvalidArgument, "missing"},
		{"short signer", &signedv1.Envelope{Signer: []byte{1}, Payload: stored.Payload, Signature: stored.Signature}, codes.InvalidArgument, "malformed public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Register(ctxT(t), &rendezvousv1.RegisterRequest{Record: tc.env})
			wantCode(t, err, tc.code, tc.substr)
			assertStored(t, c, k, stored)
		})
	}
	t.Run("oversized message", func(t *testing.T) {
		env := reg(now.Add(time.Second))
		env.Payload = append(env.Payload, make([]byte, 70<<10)...)
		_, err := c.Register(ctxT(t), &rendezvousv1.RegisterRequest{Record: env})
		wantCode(t, err, codes.ResourceExhausted, "larger than max")
		assertStored(t, c, k, stored)
	})
	t.Run("garbage message", func(t *testing.T) {
		conn, err := grpc.NewClient(srv.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		junk := rawBytes("\x0a\xff\xff\xff\xff\x0f garbage")
		err = conn.Invoke(ctxT(t), "/kith.rendezvous.v1.RendezvousService/Register", &junk, &rawBytes{}, grpc.ForceCodecV2(rawCodec{}))
		wantCode(t, err, codes.Internal, "unmarshal")
		assertStored(t, c, k, stored)
	})
	t.Run("malformed fingerprint", func(t *testing.T) {
		_, err := c.Lookup(ctxT(t), &rendezvousv1.LookupRequest{Fingerprint: "NOT-A-FINGERPRINT"})
		wantCode(t, err, codes.InvalidArgument, "malformed fingerprint")
	})
	t.Run("replayed unregister nonce", func(t *testing.T) {
		a := rendezvoustest.Auth(t, other, identity.ContextUnregister, now)
		if _, err := c.Unregister(ctxT(t), &rendezvousv1.UnregisterRequest{Auth: a}); err != nil {
			t.Fatal(err)
		}
		_, err := c.Unregister(ctxT(t), &rendezvousv1.UnregisterRequest{Auth: a})
		wantCode(t, err, codes.AlreadyExists, "nonce already used")
	})
	t.Run("unregister by another key", func(t *testing.T) {
		a := signed.SealBytes(other, identity.ContextUnregister, rendezvoustest.Auth(t, k, identity.ContextUnregister, now).Payload)
		_, err := c.Unregister(ctxT(t), &rendezvousv1.UnregisterRequest{Auth: a})
		wantCode(t, err, codes.PermissionDenied, "signed by the wrong key")
		assertStored(t, c, k, stored)
	})
}

func assertStored(t *testing.T, c rendezvousv1.RendezvousServiceClient, k *identity.Key, want *signedv1.Envelope) {
	t.Helper()
	got, err := c.Lookup(ctxT(t), &rendezvousv1.LookupRequest{Fingerprint: string(k.Public().Fingerprint())})
	if err != nil || !proto.Equal(got.GetRecord(), want) {
		t.Fatalf("stored record changed: lookup = %v, %v", got, err)
	}
}

// rawBytes and rawCodec send bytes that are not a protobuf message at all.
type rawBytes []byte

type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*rawBytes))}, nil
}
func (rawCodec) Unmarshal(d mem.BufferSlice, v any) error {
	*v.(*rawBytes) = d.Materialize()
	return nil
}
func (rawCodec) Name() string { return "proto" }

// listen opens a Listen stream for k and waits for its first (ready) keepalive.
func listen(t *testing.T, c rendezvousv1.RendezvousServiceClient, k *identity.Key) rendezvousv1.RendezvousService_ListenClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := c.Listen(ctx, &rendezvousv1.ListenRequest{Auth: rendezvoustest.Auth(t, k, ctxListen, time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	first, err := st.Recv()
	if err != nil || first.GetOffer() != nil {
		t.Fatalf("first Listen message = %v, %v; want an empty keepalive", first, err)
	}
	return st
}

// recvOffer reads until an offer arrives, skipping keepalives.
func recvOffer(t *testing.T, st rendezvousv1.RendezvousService_ListenClient) *rendezvousv1.ListenResponse {
	t.Helper()
	for {
		m, err := st.Recv()
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		if m.GetOffer() != nil {
			return m
		}
	}
}

func TestListenConnect(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{Keepalive: 50 * time.Millisecond})
	checkListenConnect(t, srv.Client(t), srv.Client(t))
}

// checkListenConnect: a registers and listens through ca; b offers through cb.
func checkListenConnect(t *testing.T, ca, cb rendezvousv1.RendezvousServiceClient) {
	t.Helper()
	a, b := rendezvoustest.NewKey(t), rendezvoustest.NewKey(t)
	afp := a.Public().Fingerprint()
	connect := func(target identity.Fingerprint) (*rendezvousv1.ConnectResponse, *signedv1.Envelope, error) {
		offer := rendezvoustest.Offer(t, b, target, connectKind, time.Now(), "198.51.100.7:5000")
		resp, err := cb.Connect(ctxT(t), &rendezvousv1.ConnectRequest{TargetFingerprint: string(target), Offer: offer})
		return resp, offer, err
	}
	_, _, err := connect(afp)
	wantCode(t, err, codes.NotFound, "no record")
	recA := register(t, ca, a, time.Now())
	_, _, err = connect(afp)
	wantCode(t, err, codes.FailedPrecondition, "not listening")

	st := listen(t, ca, a)
	resp, offer, err := connect(afp)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if !proto.Equal(resp.GetRecord(), recA) {
		t.Fatal("connect did not return the target's signed record")
	}
	got := recvOffer(t, st)
	if !proto.Equal(got.GetOffer(), offer) || got.GetObservedAddress() == "" {
		t.Fatalf("listener got %v, want the offer with the caller's observed address", got)
	}
	// A second Listen replaces the first, which ends with Aborted.
	st2 := listen(t, ca, a)
	for {
		_, err := st.Recv()
		if err != nil {
			wantCode(t, err, codes.Aborted, "replaced by a newer Listen")
			break
		}
	}
	if _, offer, err = connect(afp); err != nil {
		t.Fatalf("connect after replacement: %v", err)
	}
	if got := recvOffer(t, st2); !proto.Equal(got.GetOffer(), offer) {
		t.Fatal("the replacing Listen did not get the offer")
	}
	// An offer signed for someone else is refused.
	other := rendezvoustest.Offer(t, b, rendezvoustest.NewKey(t).Public().Fingerprint(), connectKind, time.Now())
	_, err = cb.Connect(ctxT(t), &rendezvousv1.ConnectRequest{TargetFingerprint: string(afp), Offer: other})
	wantCode(t, err, codes.InvalidArgument, "target_fingerprint differs")
}

func TestTwoInstancesOneRedis(t *testing.T) {
	checkTwoInstances(t, rendezvous.Config{RedisURL: redistest.Start(t).URL()})
}

// TestTwoInstancesOneCluster is TestTwoInstancesOneRedis on a Redis Cluster: offers
// cross instances by sharded pub/sub.
func TestTwoInstancesOneCluster(t *testing.T) {
	checkTwoInstances(t, rendezvous.Config{RedisCluster: redistest.StartCluster(t).Addrs()})
}

// checkTwoInstances runs two instances on the store of cfg: a peer registered and
// listening on A is looked up and offered to through B.
func checkTwoInstances(t *testing.T, cfg rendezvous.Config) {
	a := rendezvoustest.Start(t, cfg)
	b := rendezvoustest.Start(t, cfg)
	checkListenConnect(t, a.Client(t), b.Client(t))
	k := rendezvoustest.NewKey(t)
	env := register(t, a.Client(t), k, time.Now())
	assertStored(t, b.Client(t), k, env)

	// Two Listens for one key started at once on two instances: exactly one survives,
	// and it gets the offers.
	checkOneListenSurvives(t, k, a.Client(t), b.Client(t))
}

func checkOneListenSurvives(t *testing.T, k *identity.Key, clients ...rendezvousv1.RendezvousServiceClient) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	aborted, offers := make(chan int, len(clients)), make(chan int, len(clients))
	for i, c := range clients {
		auth := rendezvoustest.Auth(t, k, ctxListen, time.Now())
		go func() {
			st, err := c.Listen(ctx, &rendezvousv1.ListenRequest{Auth: auth})
			for err == nil {
				var m *rendezvousv1.ListenResponse
				if m, err = st.Recv(); err == nil && m.GetOffer() != nil {
					offers <- i
				}
			}
			if status.Code(err) == codes.Aborted {
				aborted <- i
			}
		}()
	}
	select {
	case <-aborted:
	case <-time.After(5 * time.Second):
		t.Fatal("both Listens for one key still open after 5s")
	}
	fp := k.Public().Fingerprint()
	offer := rendezvoustest.Offer(t, rendezvoustest.NewKey(t), fp, connectKind, time.Now())
	if _, err := clients[0].Connect(ctxT(t), &rendezvousv1.ConnectRequest{TargetFingerprint: string(fp), Offer: offer}); err != nil {
		t.Fatalf("connect to the surviving Listen: %v", err)
	}
	select {
	case <-offers:
	case i := <-aborted:
		t.Fatalf("the other Listen (%d) ended too; want one to survive", i)
	case <-time.After(5 * time.Second):
		t.Fatal("the surviving Listen got no offer in 5s")
	}
	select {
	case i := <-offers:
		t.Fatalf("Listen %d got the offer too; want exactly one listener", i)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestRedisOutage(t *testing.T) {
	r := redistest.Start(t)
	srv := rendezvoustest.Start(t, rendezvous.Config{RedisURL: r.URL(), HealthInterval: 100 * time.Millisecond})
	c := srv.Client(t)
	k := rendezvoustest.NewKey(t)
	fp := string(k.Public().Fingerprint())
	register(t, c, k, time.Now())
	st := listen(t, c, k)

	r.Stop()
	waitHealth(t, srv, healthpb.HealthCheckResponse_NOT_SERVING)
	_, err := c.Lookup(ctxT(t), &rendezvousv1.LookupRequest{Fingerprint: fp})
	wantCode(t, err, codes.Unavailable, "store unavailable")
	_, err = c.Register(ctxT(t), &rendezvousv1.RegisterRequest{Record: rendezvoustest.Registration(t, k, time.Now(), time.Minute)})
	wantCode(t, err, codes.Unavailable, "store unavailable")

	r.Restart() // an empty Redis: the peer registers again, as it does every TTL
	waitHealth(t, srv, healthpb.HealthCheckResponse_SERVING)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.Register(ctxT(t), &rendezvousv1.RegisterRequest{Record: rendezvoustest.Registration(t, k, time.Now(), time.Minute)})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("register still failing 10s after Redis came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := c.Lookup(ctxT(t), &rendezvousv1.LookupRequest{Fingerprint: fp}); err != nil {
		t.Fatalf("lookup after Redis restart: %v", err)
	}
	// The Listen stream opened before the outage resubscribes by itself and gets offers.
	b := rendezvoustest.NewKey(t)
	deadline = time.Now().Add(10 * time.Second)
	for {
		offer := rendezvoustest.Offer(t, b, k.Public().Fingerprint(), connectKind, time.Now())
		_, err := c.Connect(ctxT(t), &rendezvousv1.ConnectRequest{TargetFingerprint: fp, Offer: offer})
		if err == nil {
			if got := recvOffer(t, st); !proto.Equal(got.GetOffer(), offer) {
				t.Fatal("the listener got another offer than the one sent")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connect to a listener still failing 10s after Redis came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitHealth waits up to 10 s for the gRPC health status want.
func waitHealth(t *testing.T, srv *rendezvoustest.Server, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	conn, err := grpc.NewClient(srv.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := hc.Check(ctxT(t), &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health = %v, %v after 10s; want %v", resp.GetStatus(), err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestStopDrainsListen(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{})
	c := srv.Client(t)
	k := rendezvoustest.NewKey(t)
	st := listen(t, c, k)
	done := make(chan error, 1)
	go func() { done <- srv.Instance.Stop() }()
	for {
		_, err := st.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				wantCode(t, err, codes.Unavailable, "shutting down")
			}
			break
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return within 5s")
	}
}

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

// TestRateLimitSharedThroughRedis: the per-key budget is one budget across instances.
func TestRateLimitSharedThroughRedis(t *testing.T) {
	r := redistest.Start(t)
	limits := server.RateLimit{PerFingerprint: 2}
	a := rendezvoustest.Start(t, rendezvous.Config{RedisURL: r.URL(), RateLimit: limits})
	b := rendezvoustest.Start(t, rendezvous.Config{RedisURL: r.URL(), RateLimit: limits})
	k := rendezvoustest.NewKey(t)
	register(t, a.Client(t), k, time.Now())
	register(t, b.Client(t), k, time.Now().Add(time.Millisecond))
	_, err := a.Client(t).Register(ctxT(t), &rendezvousv1.RegisterRequest{Record: rendezvoustest.Registration(t, k, time.Now().Add(2*time.Millisecond), time.Minute)})
	wantCode(t, err, codes.ResourceExhausted, "rate limit exceeded")
}
