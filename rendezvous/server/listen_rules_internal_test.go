package server

import (
	"context"
	"crypto/rand"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/shared/identity"
)

// TestListenOutlivesStaleSession: a Listen stream that sees an older session of its own
// channel announces itself again and keeps serving (the older stream is the one to go).
func TestListenOutlivesStaleSession(t *testing.T) {
	s := newT(t, Config{Name: "rdv-test", Keepalive: 50 * time.Millisecond})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	rendezvousv1.RegisterRendezvousServiceServer(g, s)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	k := keyT(t)
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	auth := sealT(t, k, identity.ContextListen, &rendezvousv1.Auth{PublicKey: k.Public().Bytes(),
		TimestampUnixMs: time.Now().UnixMilli(), Nonce: nonce, Server: "rdv-test"})
	st, err := rendezvousv1.NewRendezvousServiceClient(conn).Listen(ctx, &rendezvousv1.ListenRequest{Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatalf("first keepalive: %v", err)
	}
	stale := newSession(time.Now().Add(-time.Hour))
	if err := s.store.Publish(ctx, k.Public().Fingerprint(), sessionFrame(stale)); err != nil {
		t.Fatalf("publish stale session: %v", err)
	}
	for i := range 3 {
		if _, err := st.Recv(); err != nil {
			t.Fatalf("keepalive %d after a stale session: %v (want the stream kept)", i, err)
		}
	}
}
