package discovery

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

func newKey(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func host(addr string) []*rendezvousv1.Candidate {
	return []*rendezvousv1.Candidate{{Address: addr, Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_HOST}}
}

// run starts a client and stops it when the test ends.
func run(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

func waitRegistered(t *testing.T, c *Client, server string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := c.Status()
		if st.Registered && (server == "" || st.Server == server) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not registered with %q after 10s: %+v", server, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRegisterLookupConnect(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{})
	alice, bob := newKey(t), newKey(t)
	offers := make(chan Offer, 1)
	a := run(t, Config{Key: alice, Servers: []string{srv.GRPC}, Candidates: func() []*rendezvousv1.Candidate { return host("192.0.2.1:4700") },
		OnOffer: func(o Offer) { offers <- o }})
	b := run(t, Config{Key: bob, Servers: []string{srv.GRPC}, Candidates: func() []*rendezvousv1.Candidate { return host("192.0.2.2:4700") }})
	waitRegistered(t, a, srv.GRPC)
	waitRegistered(t, b, srv.GRPC)
	if a.Status().Observed == "" {
		t.Error("no observed address after registering")
	}
	ctx := context.Background()
	reg, err := b.Lookup(ctx, alice.Public())
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if got := reg.GetCandidates()[0].GetAddress(); got != "192.0.2.1:4700" {
		t.Fatalf("looked-up candidate %q, want 192.0.2.1:4700", got)
	}
	nonce := []byte("0123456789abcdef")
	reg, err = b.Connect(ctx, alice.Public(), rendezvousv1.OfferKind_OFFER_KIND_CONNECT, host("192.0.2.2:4700"), nonce)
	if err != nil || reg.GetCandidates()[0].GetAddress() != "192.0.2.1:4700" {
		t.Fatalf("Connect = %v, %v", reg, err)
	}
	select {
	case o := <-offers:
		if o.From != bob.Public() || string(o.Offer.GetNonce()) != string(nonce) || o.Offer.GetCandidates()[0].GetAddress() != "192.0.2.2:4700" {
			t.Fatalf("offer from %s nonce %q candidates %v", o.From.Short(), o.Offer.GetNonce(), o.Offer.GetCandidates())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the offer did not reach Alice's Listen stream")
	}
	// Someone nobody registered: not found, said clearly.
	if _, err := b.Lookup(ctx, newKey(t).Public()); err == nil {
		t.Fatal("Lookup of an unregistered peer succeeded")
	}
}

// TestFailover stops the first rendezvous: the client registers with the second.
func TestFailover(t *testing.T) {
	one := rendezvoustest.Start(t, rendezvous.Config{})
	two := rendezvoustest.Start(t, rendezvous.Config{})
	c := run(t, Config{Key: newKey(t), Servers: []string{one.GRPC, two.GRPC}, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	waitRegistered(t, c, one.GRPC)
	if err := one.Instance.Stop(); err != nil {
		t.Fatal(err)
	}
	waitRegistered(t, c, two.GRPC)
	// A lookup through the client goes to the live server.
	other := run(t, Config{Key: newKey(t), Servers: []string{one.GRPC, two.GRPC}, MinBackoff: 50 * time.Millisecond})
	waitRegistered(t, other, two.GRPC)
	if _, err := other.Lookup(context.Background(), c.cfg.Key.Public()); err != nil {
		t.Fatalf("Lookup after failover: %v", err)
	}
}

// A lying rendezvous cannot redirect: a record not signed by the peer asked for, or
// naming another key inside, is refused.
func TestVerifyRecord(t *testing.T) {
	alice, mallory := newKey(t), newKey(t)
	good, _ := signed.Seal(alice, identity.ContextRegistration, &rendezvousv1.Registration{PublicKey: alice.Public().Bytes(), Candidates: host("192.0.2.1:1")})
	if _, err := verifyRecord(good, alice.Public()); err != nil {
		t.Fatalf("good record: %v", err)
	}
	for name, env := range map[string]*rendezvousv1.Registration{
		"signed by mallory, naming alice":   {PublicKey: alice.Public().Bytes()},
		"signed by mallory, naming mallory": {PublicKey: mallory.Public().Bytes()},
	} {
		e, _ := signed.Seal(mallory, identity.ContextRegistration, env)
		if _, err := verifyRecord(e, alice.Public()); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: %v, want ErrBadRecord", name, err)
		}
	}
	inner, _ := signed.Seal(alice, identity.ContextRegistration, &rendezvousv1.Registration{PublicKey: mallory.Public().Bytes()})
	if _, err := verifyRecord(inner, alice.Public()); !errors.Is(err, ErrBadRecord) {
		t.Errorf("signed by alice naming mallory: %v, want ErrBadRecord", err)
	}
	if _, err := verifyRecord(nil, alice.Public()); !errors.Is(err, ErrBadRecord) {
		t.Errorf("no record: %v, want ErrBadRecord", err)
	}
}
