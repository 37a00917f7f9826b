package server_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/rendezvous/server"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// TestProofsBoundToServer (issue 13, item 8): a registration or auth proof signed for
// one rendezvous, or taken from it by a lookup, is refused by another.
func TestProofsBoundToServer(t *testing.T) {
	alpha := rendezvoustest.Start(t, rendezvous.Config{Name: "alpha", TURNSecret: "s"})
	beta := rendezvoustest.Start(t, rendezvous.Config{Name: "beta", TURNSecret: "s"})
	ca, cb := alpha.Client(t), beta.Client(t)
	for c, want := range map[rendezvousv1.RendezvousServiceClient]string{ca: "alpha", cb: "beta"} {
		info, err := c.ServerInfo(ctxT(t), &rendezvousv1.ServerInfoRequest{})
		if err != nil || info.GetName() != want || info.GetVersion() != rendezvousv1.RecordVersion_RECORD_VERSION_2 {
			t.Fatalf("ServerInfo = %v, %v; want name %q, version 2", info, err, want)
		}
	}
	k := rendezvoustest.NewKey(t)
	rec := rendezvoustest.RegistrationFor(t, "alpha", k, time.Now(), time.Minute)
	if _, err := ca.Register(ctxT(t), &rendezvousv1.RegisterRequest{Record: rec}); err != nil {
		t.Fatalf("register with alpha: %v", err)
	}
	looked, err := ca.Lookup(ctxT(t), &rendezvousv1.LookupRequest{Fingerprint: string(k.Public().Fingerprint())})
	if err != nil {
		t.Fatal(err)
	}
	// The record as anyone can look it up, replayed to beta.
	_, err = cb.Register(ctxT(t), &rendezvousv1.RegisterRequest{Record: looked.GetRecord()})
	wantCode(t, err, codes.InvalidArgument, `signed for another rendezvous server: it names "alpha", this server is "beta"`)
	for _, c := range []identity.Context{identity.ContextListen, identity.ContextTurnCredentials, identity.ContextUnregister} {
		auth := rendezvoustest.AuthFor(t, "alpha", k, c, time.Now())
		switch c {
		case identity.ContextListen:
			st, err := cb.Listen(ctxT(t), &rendezvousv1.ListenRequest{Auth: auth})
			if err == nil {
				_, err = st.Recv()
			}
			wantCode(t, err, codes.InvalidArgument, "signed for another rendezvous server")
		case identity.ContextTurnCredentials:
			_, err := cb.TurnCredentials(ctxT(t), &rendezvousv1.TurnCredentialsRequest{Auth: auth})
			wantCode(t, err, codes.InvalidArgument, "signed for another rendezvous server")
		case identity.ContextUnregister:
			_, err := cb.Unregister(ctxT(t), &rendezvousv1.UnregisterRequest{Auth: auth})
			wantCode(t, err, codes.InvalidArgument, "signed for another rendezvous server")
		}
	}
	// The same proofs work where they are meant to.
	if _, err := ca.TurnCredentials(ctxT(t), &rendezvousv1.TurnCredentialsRequest{Auth: rendezvoustest.AuthFor(t, "alpha", k, identity.ContextTurnCredentials, time.Now())}); err != nil {
		t.Fatalf("turn credentials from alpha with alpha's proof: %v", err)
	}
	// A record without a version (v1) is refused with a clear reason.
	v1, err := signed.Seal(k, identity.ContextRegistration, &rendezvousv1.Registration{PublicKey: k.Public().Bytes(),
		TimestampUnixMs: time.Now().Add(time.Second).UnixMilli(), TtlSeconds: 60, Server: "alpha"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ca.Register(ctxT(t), &rendezvousv1.RegisterRequest{Record: v1})
	wantCode(t, err, codes.InvalidArgument, "record version not supported")
}

// TestSealedOffers (issue 13, item 5): the rendezvous checks only a sealed offer's frame,
// refuses a replayed nonce for its target, and charges offers to their target (the
// caller is hidden) as well as to the client IP.
func TestSealedOffers(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{RateLimit: server.RateLimit{PerTarget: 3}})
	c := srv.Client(t)
	a := rendezvoustest.NewKey(t)
	afp := a.Public().Fingerprint()
	register(t, c, a, time.Now())
	st := listen(t, c, a)
	connect := func(o *rendezvousv1.SealedOffer) error {
		_, err := c.Connect(ctxT(t), &rendezvousv1.ConnectRequest{TargetFingerprint: string(afp), Offer: o})
		return err
	}
	edit := func(f func(o *rendezvousv1.SealedOffer)) *rendezvousv1.SealedOffer {
		o := rendezvoustest.Offer(t, afp, time.Now())
		f(o)
		return o
	}
	for _, tc := range []struct {
		name string
		o    *rendezvousv1.SealedOffer
		want string
	}{
		{"missing", nil, "signed record missing"},
		{"no version", edit(func(o *rendezvousv1.SealedOffer) { o.Version = 0 }), "record version not supported"},
		{"other target", edit(func(o *rendezvousv1.SealedOffer) {
			o.TargetFingerprint = string(rendezvoustest.NewKey(t).Public().Fingerprint())
		}), "target_fingerprint differs"},
		{"stale", edit(func(o *rendezvousv1.SealedOffer) { o.TimestampUnixMs -= 120_000 }), "outside the server's clock window"},
		{"short nonce", edit(func(o *rendezvousv1.SealedOffer) { o.Nonce = o.Nonce[:8] }), "nonce must be 16 bytes"},
		{"empty", edit(func(o *rendezvousv1.SealedOffer) { o.Sealed = nil }), "sealed offer of 0 bytes"},
		{"too large", edit(func(o *rendezvousv1.SealedOffer) { o.Sealed = make([]byte, 5000) }), "sealed offer of 5000 bytes"},
	} {
		wantCode(t, connect(tc.o), codes.InvalidArgument, tc.want)
	}
	o := rendezvoustest.Offer(t, afp, time.Now())
	if err := connect(o); err != nil {
		t.Fatalf("connect: %v", err)
	}
	if got := recvOffer(t, st); got.GetOffer().GetNonce() == nil || string(got.GetOffer().GetSealed()) != string(o.GetSealed()) {
		t.Fatalf("listener got %v, want the sealed offer as sent", got)
	}
	wantCode(t, connect(o), codes.AlreadyExists, "nonce already used")
	if err := connect(rendezvoustest.Offer(t, afp, time.Now())); err != nil {
		t.Fatalf("second offer: %v", err)
	}
	// The target's budget (3 a minute: the replay was charged too) is spent.
	wantCode(t, connect(rendezvoustest.Offer(t, afp, time.Now())), codes.ResourceExhausted, "to:"+string(afp))
	// Another target still gets offers from the same client.
	b := rendezvoustest.NewKey(t)
	register(t, c, b, time.Now())
	listen(t, c, b)
	bfp := b.Public().Fingerprint()
	if _, err := c.Connect(ctxT(t), &rendezvousv1.ConnectRequest{TargetFingerprint: string(bfp), Offer: rendezvoustest.Offer(t, bfp, time.Now())}); err != nil {
		t.Fatalf("offer to another target: %v", err)
	}
}
