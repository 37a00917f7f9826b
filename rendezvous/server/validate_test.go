package server

import (
	"crypto/rand"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// FuzzRegistration feeds arbitrary envelopes to the registration parser: it must never
// panic, and whatever it accepts must respect every limit.
func FuzzRegistration(f *testing.F) {
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	now := time.UnixMilli(1_800_000_000_000)
	valid, err := signed.Seal(k, identity.ContextRegistration, &rendezvousv1.Registration{
		PublicKey: k.Public().Bytes(), TimestampUnixMs: now.UnixMilli(), TtlSeconds: 9999,
		PublicCandidates: []*rendezvousv1.Candidate{{Address: "192.0.2.1:1"}, {Address: "[2001:db8::1]:2"}},
		Version:          rendezvousv1.RecordVersion_RECORD_VERSION_2, Server: "fuzz",
	})
	if err != nil {
		f.Fatal(err)
	}
	seed, _ := proto.Marshal(valid)
	f.Add(seed)
	f.Add([]byte{})
	f.Add([]byte("\x0a\x20garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		env := &signedv1.Envelope{}
		if proto.Unmarshal(b, env) != nil {
			return
		}
		l := DefaultLimits
		l.Server = "fuzz"
		reg, signer, ttl, err := l.Registration(env, now)
		if err != nil {
			return
		}
		if string(reg.GetPublicKey()) != string(signer[:]) || len(reg.GetPublicCandidates()) > DefaultLimits.MaxCandidates ||
			reg.GetServer() != "fuzz" || reg.GetVersion() != rendezvousv1.RecordVersion_RECORD_VERSION_2 ||
			ttl < DefaultLimits.MinTTL || ttl > DefaultLimits.MaxTTL {
			t.Fatalf("accepted a registration outside the limits: %v ttl %s", reg, ttl)
		}
	})
}
