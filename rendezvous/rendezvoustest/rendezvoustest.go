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
	"github.com/kithnet/kith/shared/device"
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
	if cfg.Name == "" {
		cfg.Name = Name
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

// Name is the server name Start gives an instance unless cfg names one; the helpers
// below sign for it.
const Name = "rendezvoustest"

// Registration seals a v2 registration of k for the server Name at ts with ttl and
// public candidates ("ip:port").
func Registration(t testing.TB, k *identity.Key, ts time.Time, ttl time.Duration, candidates ...string) *signedv1.Envelope {
	t.Helper()
	return RegistrationFor(t, Name, k, ts, ttl, candidates...)
}

// RegistrationFor is Registration for the server named server.
func RegistrationFor(t testing.TB, server string, k *identity.Key, ts time.Time, ttl time.Duration, candidates ...string) *signedv1.Envelope {
	t.Helper()
	return seal(t, k, identity.ContextRegistration, &rendezvousv1.Registration{
		PublicKey: k.Public().Bytes(), PublicCandidates: hostCandidates(candidates),
		TimestampUnixMs: ts.UnixMilli(), TtlSeconds: uint32(ttl / time.Second),
		Version: rendezvousv1.RecordVersion_RECORD_VERSION_2, Server: server,
	})
}

// Auth seals a fresh proof of k for the server Name under ctx (ContextListen,
// ContextUnregister, ContextTurnCredentials) at ts, with a random nonce.
func Auth(t testing.TB, k *identity.Key, ctx identity.Context, ts time.Time) *signedv1.Envelope {
	t.Helper()
	return AuthFor(t, Name, k, ctx, ts)
}

// AuthFor is Auth for the server named server.
func AuthFor(t testing.TB, server string, k *identity.Key, ctx identity.Context, ts time.Time) *signedv1.Envelope {
	t.Helper()
	return seal(t, k, ctx, &rendezvousv1.Auth{PublicKey: k.Public().Bytes(), TimestampUnixMs: ts.UnixMilli(), Nonce: nonce(), Server: server})
}

// Offer is a sealed offer's frame for target at ts with a random nonce, around sealed
// stand-in bytes: the rendezvous never opens it (peer/discovery.SealOffer makes real ones).
func Offer(t testing.TB, target identity.Fingerprint, ts time.Time) *rendezvousv1.SealedOffer {
	t.Helper()
	body := nonce()
	return &rendezvousv1.SealedOffer{Version: rendezvousv1.RecordVersion_RECORD_VERSION_2,
		TargetFingerprint: string(target), TimestampUnixMs: ts.UnixMilli(), Nonce: nonce(), Sealed: append([]byte("sealed:"), body...)}
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

// Device is one device of a person: its own key and the certificate the person's
// identity signed for it (issue 16).
type Device struct {
	Person *identity.Key
	Key    *identity.Key
	ID     []byte
	Cert   *signedv1.Envelope
}

// NewDevice certifies a fresh key as device id (8 bytes) of person, valid for a day.
func NewDevice(t testing.TB, person *identity.Key, id string) Device {
	t.Helper()
	k := NewKey(t)
	cert, err := device.Issue(person, k.Public(), []byte(id), time.Now().Add(-time.Minute), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return Device{Person: person, Key: k, ID: []byte(id), Cert: cert}
}

// DeviceRegistration is Registration for a device: signed by its key, naming its id
// and carrying its certificate.
func DeviceRegistration(t testing.TB, d Device, ts time.Time, ttl time.Duration, candidates ...string) *signedv1.Envelope {
	t.Helper()
	return seal(t, d.Key, identity.ContextRegistration, &rendezvousv1.Registration{
		PublicKey: d.Key.Public().Bytes(), PublicCandidates: hostCandidates(candidates),
		TimestampUnixMs: ts.UnixMilli(), TtlSeconds: uint32(ttl / time.Second),
		Version: rendezvousv1.RecordVersion_RECORD_VERSION_2, Server: Name,
		DeviceId: d.ID, DeviceCertificate: d.Cert,
	})
}

// DeviceAuth is Auth for a device.
func DeviceAuth(t testing.TB, d Device, ctx identity.Context, ts time.Time) *signedv1.Envelope {
	t.Helper()
	return seal(t, d.Key, ctx, &rendezvousv1.Auth{PublicKey: d.Key.Public().Bytes(), TimestampUnixMs: ts.UnixMilli(),
		Nonce: nonce(), Server: Name, DeviceId: d.ID, DeviceCertificate: d.Cert})
}

// DeviceOffer is Offer routed to one device of target.
func DeviceOffer(t testing.TB, target identity.Fingerprint, dev []byte, ts time.Time) *rendezvousv1.SealedOffer {
	t.Helper()
	o := Offer(t, target, ts)
	o.TargetDeviceId = dev
	return o
}
