package server_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/shared/identity"
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
	registered := time.Now()
	env := rendezvoustest.Registration(t, k, registered, 5*time.Second, "192.0.2.1:4000")
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
	// Unregister removes only a record older than its proof (so a replayed old proof can
	// never remove a newer registration): sign it a millisecond after the registration,
	// as a peer's later call always is.
	unregAt := registered.Add(time.Millisecond)
	if _, err := c.Unregister(ctx, &rendezvousv1.UnregisterRequest{Auth: rendezvoustest.Auth(t, k, identity.ContextUnregister, unregAt)}); err != nil {
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

// TestRecordExpires moves an injected clock past the clamped TTL: the record is gone.
func TestRecordExpires(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	srv := rendezvoustest.Start(t, rendezvous.Config{Now: clock})
	c := srv.Client(t)
	k := rendezvoustest.NewKey(t)
	env := rendezvoustest.Registration(t, k, clock(), time.Second, "192.0.2.1:1") // clamped to 30 s
	if _, err := c.Register(ctxT(t), &rendezvousv1.RegisterRequest{Record: env}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(29 * time.Second)
	mu.Unlock()
	assertStored(t, c, k, env)
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	_, err := c.Lookup(ctxT(t), &rendezvousv1.LookupRequest{Fingerprint: string(k.Public().Fingerprint())})
	wantCode(t, err, codes.NotFound, "expired")
}
