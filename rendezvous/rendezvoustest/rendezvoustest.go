// Package rendezvoustest runs a real kith-rendezvous in-process on loopback for tests of
// other packages, and seals the signed requests a peer sends.
package rendezvoustest

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// Server is a running rendezvous.
type Server struct {
	// GRPC is the gRPC address, host:port on loopback.
	GRPC string
	// STUN is the UDP STUN/TURN address, host:port on loopback.
	STUN string
	// Instance is the running instance (Stop it to simulate a crash of the service).
	Instance *rendezvous.Instance
}

// Start runs a rendezvous for t with cfg and stops it when t ends. Empty Listen and STUN
// become 127.0.0.1:0; the store is in memory unless cfg names Redis; logs are discarded
// unless cfg.Logger is set.
func Start(t testing.TB, cfg rendezvous.Config) *Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.STUN == "" {
		cfg.STUN = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 2 * time.Second
	}
	inst, err := rendezvous.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("rendezvoustest: start: %v", err)
	}
	t.Cleanup(func() {
		if err := inst.Stop(); err != nil {
			t.Errorf("rendezvoustest: stop: %v", err)
		}
	})
	return &Server{GRPC: inst.GRPCAddr.String(), STUN: inst.STUNAddr.String(), Instance: inst}
}

// Client dials the server's gRPC address (plaintext) and closes the connection when t ends.
func (s *Server) Client(t testing.TB) rendezvousv1.RendezvousServiceClient {
	t.Helper()
	return Dial(t, s.GRPC)
}

// Dial returns a client of the rendezvous at addr (plaintext), closed when t ends.
func Dial(t testing.TB, addr string) rendezvousv1.RendezvousServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("rendezvoustest: dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return rendezvousv1.NewRendezvousServiceClient(conn)
}

// NewKey generates an identity key.
func NewKey(t testing.TB) *identity.Key {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Registration seals a registration of k at ts with ttl and candidates ("ip:port").
func Registration(t testing.TB, k *identity.Key, ts time.Time, ttl time.Duration, candidates ...string) *signedv1.Envelope {
	t.Helper()
	return seal(t, k, identity.ContextRegistration, &rendezvousv1.Registration{
		PublicKey: k.Public().Bytes(), Candidates: hostCandidates(candidates),
		TimestampUnixMs: ts.UnixMilli(), TtlSeconds: uint32(ttl / time.Second),
	})
}

// Auth seals a fresh proof of k under ctx (ContextListen, ContextUnregister,
// ContextTurnCredentials) at ts, with a random nonce.
func Auth(t testing.TB, k *identity.Key, ctx identity.Context, ts time.Time) *signedv1.Envelope {
	t.Helper()
	return seal(t, k, ctx, &rendezvousv1.Auth{PublicKey: k.Public().Bytes(), TimestampUnixMs: ts.UnixMilli(), Nonce: nonce()})
}

// Offer seals an offer from k to target at ts, with a random nonce.
func Offer(t testing.TB, k *identity.Key, target identity.Fingerprint, kind rendezvousv1.OfferKind, ts time.Time, candidates ...string) *signedv1.Envelope {
	t.Helper()
	return seal(t, k, identity.ContextOffer, &rendezvousv1.Offer{
		PublicKey: k.Public().Bytes(), TargetFingerprint: string(target), Candidates: hostCandidates(candidates),
		TimestampUnixMs: ts.UnixMilli(), Nonce: nonce(), Kind: kind,
	})
}

func seal(t testing.TB, k *identity.Key, ctx identity.Context, msg proto.Message) *signedv1.Envelope {
	t.Helper()
	env, err := signed.Seal(k, ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func hostCandidates(addrs []string) []*rendezvousv1.Candidate {
	cs := make([]*rendezvousv1.Candidate, len(addrs))
	for i, a := range addrs {
		cs[i] = &rendezvousv1.Candidate{Address: a, Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_HOST}
	}
	return cs
}

func nonce() []byte {
	n := make([]byte, 16)
	rand.Read(n)
	return n
}
