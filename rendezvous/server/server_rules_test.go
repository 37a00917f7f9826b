package server_test

import (
	"testing"
	"time"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/shared/identity"
)

// TestTurnTTL: the credentials' TTL is given in seconds, the default hour is 3600 s.
func TestTurnTTL(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret"})
	c := srv.Client(t)
	k := rendezvoustest.NewKey(t)
	register(t, c, k, time.Now())
	cred, err := c.TurnCredentials(ctxT(t), &rendezvousv1.TurnCredentialsRequest{
		Auth: rendezvoustest.Auth(t, k, identity.ContextTurnCredentials, time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	if got := cred.GetTtlSeconds(); got != 3600 {
		t.Fatalf("TtlSeconds = %d, want 3600 (the default hour)", got)
	}
}
