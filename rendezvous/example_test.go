package rendezvous_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// A peer registers its candidates with a signed record; anyone looks it up by
// fingerprint and verifies the record against that fingerprint itself.
func Example() {
	inst, err := rendezvous.Start(context.Background(), rendezvous.Config{
		Listen: "127.0.0.1:0", STUN: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	defer inst.Stop()
	conn, err := grpc.NewClient(inst.GRPCAddr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	c := rendezvousv1.NewRendezvousServiceClient(conn)
	ctx := context.Background()

	info, err := c.ServerInfo(ctx, &rendezvousv1.ServerInfoRequest{})
	if err != nil {
		panic(err)
	}
	key, _ := identity.Generate(rand.Reader)
	record, _ := signed.Seal(key, identity.ContextRegistration, &rendezvousv1.Registration{
		PublicKey:        key.Public().Bytes(),
		PublicCandidates: []*rendezvousv1.Candidate{{Address: "192.0.2.1:4000", Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_HOST}},
		Version:          rendezvousv1.RecordVersion_RECORD_VERSION_2,
		Server:           info.GetName(), // a proof names the server it is for
		TimestampUnixMs:  time.Now().UnixMilli(),
		TtlSeconds:       300,
	})
	resp, err := c.Register(ctx, &rendezvousv1.RegisterRequest{Record: record})
	if err != nil {
		panic(err)
	}
	fmt.Println("stored for", resp.GetTtlSeconds(), "seconds")

	fp := key.Public().Fingerprint()
	found, err := c.Lookup(ctx, &rendezvousv1.LookupRequest{Fingerprint: string(fp)})
	if err != nil {
		panic(err)
	}
	var reg rendezvousv1.Registration
	if _, err := signed.OpenFromFingerprint(found.GetRecord(), identity.ContextRegistration, fp, &reg); err != nil {
		panic(err)
	}
	fmt.Println("verified candidate", reg.GetPublicCandidates()[0].GetAddress())
	// Output:
	// stored for 300 seconds
	// verified candidate 192.0.2.1:4000
}
