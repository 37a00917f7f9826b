package discovery

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"google.golang.org/protobuf/proto"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

func newKey(t testing.TB) *identity.Key {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func host(addrs ...string) []*rendezvousv1.Candidate {
	var out []*rendezvousv1.Candidate
	for _, a := range addrs {
		out = append(out, &rendezvousv1.Candidate{Address: a, Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_HOST})
	}
	return out
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
		if st.Registered && st.Listening && (server == "" || st.Server == server) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not registered and listening with %q after 10s: %+v", server, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRegisterLookupConnect(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{})
	alice, bob := newKey(t), newKey(t)
	offers := make(chan Offer, 1)
	reach := NewReachKey()
	a := run(t, Config{Key: alice, Servers: []string{srv.GRPC}, Candidates: func() []*rendezvousv1.Candidate { return host("192.0.2.1:4700") },
		OnOffer: func(o Offer) { offers <- o }, ReachKey: func() []byte { return reach }})
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
	// Private by default: no plain candidates; the sealed ones open with Alice's
	// reachability key only.
	if len(reg.GetPublicCandidates()) != 0 || reg.GetServer() != rendezvoustest.Name {
		t.Fatalf("record has public candidates %v, server %q", reg.GetPublicCandidates(), reg.GetServer())
	}
	if _, err := OpenReachability(NewReachKey(), reg); !errors.Is(err, ErrNoReachability) {
		t.Fatalf("sealed candidates opened with another key: %v", err)
	}
	cands, err := OpenReachability(reach, reg)
	if err != nil || cands[0].GetAddress() != "192.0.2.1:4700" {
		t.Fatalf("looked-up candidates %v, %v; want 192.0.2.1:4700", cands, err)
	}
	nonce := []byte("0123456789abcdef")
	reg, err = b.Connect(ctx, alice.Public(), rendezvousv1.OfferKind_OFFER_KIND_CONNECT, host("192.0.2.2:4700"), nonce)
	if err != nil || reg.GetReachability() == nil {
		t.Fatalf("Connect = %v, %v", reg, err)
	}
	select {
	case o := <-offers:
		if o.From != bob.Public() || string(o.Offer.GetPunchSecret()) != string(nonce) || o.Offer.GetCandidates()[0].GetAddress() != "192.0.2.2:4700" {
			t.Fatalf("offer from %s secret %q candidates %v", o.From.Short(), o.Offer.GetPunchSecret(), o.Offer.GetCandidates())
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
	good, _ := signed.Seal(alice, identity.ContextRegistration, &rendezvousv1.Registration{PublicKey: alice.Public().Bytes(), PublicCandidates: host("192.0.2.1:1")})
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

// TestPublicCandidates: plain candidates are in the record only while Public says so.
func TestPublicCandidates(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{})
	alice := newKey(t)
	var public atomic.Bool
	a := run(t, Config{Key: alice, Servers: []string{srv.GRPC}, Candidates: func() []*rendezvousv1.Candidate { return host("192.0.2.1:4700") },
		Public: public.Load})
	waitRegistered(t, a, srv.GRPC)
	b := run(t, Config{Key: newKey(t), Servers: []string{srv.GRPC}})
	reg, err := b.Lookup(context.Background(), alice.Public())
	if err != nil || len(reg.GetPublicCandidates()) != 0 || reg.GetReachability() != nil {
		t.Fatalf("private record: %v, %v; want neither plain nor sealed candidates (no reachability key)", reg, err)
	}
	public.Store(true)
	a.Refresh()
	deadline := time.Now().Add(5 * time.Second)
	for {
		reg, err = b.Lookup(context.Background(), alice.Public())
		if err == nil && len(reg.GetPublicCandidates()) == 1 && reg.GetPublicCandidates()[0].GetAddress() == "192.0.2.1:4700" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("published record: %v, %v; want the plain candidate", reg, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOpenOffer: an offer opens only for its target, with its frame unchanged, once.
func TestOpenOffer(t *testing.T) {
	alice, bob := newKey(t), newKey(t)
	c, err := New(Config{Key: alice, Servers: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	seal := func() *rendezvousv1.SealedOffer {
		t.Helper()
		so, err := SealOffer(bob, alice.Public(), &rendezvousv1.Offer{Kind: rendezvousv1.OfferKind_OFFER_KIND_CONNECT,
			PunchSecret: []byte("0123456789abcdef"), Candidates: host("192.0.2.2:4700")}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return so
	}
	so := seal()
	for _, leak := range [][]byte{bob.Public().Bytes(), []byte("0123456789abcdef"), []byte("192.0.2.2")} {
		if bytes.Contains(so.GetSealed(), leak) {
			t.Fatalf("sealed offer shows %q in the clear", leak)
		}
	}
	from, o, err := c.open(so)
	if err != nil || from != bob.Public() || o.GetCandidates()[0].GetAddress() != "192.0.2.2:4700" {
		t.Fatalf("open = %v, %v, %v", from, o, err)
	}
	if _, _, err := c.open(so); !errors.Is(err, ErrBadOffer) {
		t.Errorf("replayed offer: %v, want ErrBadOffer", err)
	}
	restamped := seal()
	restamped.TimestampUnixMs++
	if _, _, err := c.open(restamped); !errors.Is(err, ErrBadOffer) {
		t.Errorf("re-stamped frame: %v, want ErrBadOffer", err)
	}
	renonced := seal()
	renonced.Nonce = []byte("fedcba9876543210")
	if _, _, err := c.open(renonced); !errors.Is(err, ErrBadOffer) {
		t.Errorf("frame with another nonce: %v, want ErrBadOffer", err)
	}
	mallory, err := New(Config{Key: newKey(t), Servers: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := mallory.open(seal()); !errors.Is(err, ErrBadOffer) {
		t.Errorf("opened by someone else: %v, want ErrBadOffer", err)
	}
}

// TestClientWarm: the warm-up seals to and opens with the client's own key (the age
// identity New made), leaves no nonce behind as seen, and a key whose identity was
// swapped fails it.
func TestClientWarm(t *testing.T) {
	c, err := New(Config{Key: newKey(t), Servers: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Warm(); err != nil || len(c.seen) != 0 {
		t.Fatalf("Warm: %v, %d nonces seen; want nil, none", err, len(c.seen))
	}
	other, err := ageIdentity(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	c.self = other
	if err := c.Warm(); err == nil {
		t.Fatal("Warm with another key's age identity: no error")
	}
}

// TestServerEntries: tls:// and plain entries parse; a plaintext one beyond loopback
// is warned about once.
func TestServerEntries(t *testing.T) {
	for _, tc := range []struct {
		in       string
		ok, tls  bool
		loopback bool
	}{
		{"127.0.0.1:7000", true, false, true},
		{"localhost:7000", true, false, true},
		{"[::1]:7000", true, false, true},
		{"tls://rdv.example:443", true, true, false},
		{"192.0.2.1:7000", true, false, false},
		{"http://x:1", false, false, false},
		{"tls://nohost", false, false, false},
	} {
		_, tls, err := scheme(tc.in)
		if (err == nil) != tc.ok || tls != tc.tls || (tc.ok && Loopback(tc.in) != tc.loopback) {
			t.Errorf("%q: tls %v err %v loopback %v; want ok %v tls %v loopback %v", tc.in, tls, err, Loopback(tc.in), tc.ok, tc.tls, tc.loopback)
		}
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	if _, err := New(Config{Key: newKey(t), Servers: []string{"192.0.2.1:7000", "192.0.2.2:7000"}, Logger: log}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "plaintext beyond loopback"); n != 1 {
		t.Errorf("%d warnings for two plaintext servers beyond loopback, want 1:\n%s", n, buf.String())
	}
	buf.Reset()
	if _, err := New(Config{Key: newKey(t), Servers: []string{"127.0.0.1:7000", "tls://192.0.2.1:7000"}, Logger: log}); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("warned for loopback and TLS servers: %s", buf.String())
	}
}

// TestOpenOfferRules: an offer whose signed body names a key other than its signer's, or
// a target other than the key it is sealed to, or whose frame names another target, is
// refused; the same offer made honestly opens.
func TestOpenOfferRules(t *testing.T) {
	alice, bob, carol := newKey(t), newKey(t), newKey(t)
	now := time.Now()
	offer := func() *rendezvousv1.Offer {
		return &rendezvousv1.Offer{Kind: rendezvousv1.OfferKind_OFFER_KIND_CONNECT, PunchSecret: []byte("0123456789abcdef")}
	}
	// sealRaw seals a body signed by signer as it is, to alice.
	sealRaw := func(signer *identity.Key, o *rendezvousv1.Offer) *rendezvousv1.SealedOffer {
		t.Helper()
		o.TargetFingerprint, o.TimestampUnixMs, o.Nonce = string(alice.Public().Fingerprint()), now.UnixMilli(), []byte("nonce-0123456789")
		env, err := signed.Seal(signer, identity.ContextOffer, o)
		if err != nil {
			t.Fatal(err)
		}
		inner, _ := proto.Marshal(env)
		r, err := recipient(alice.Public())
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		w, _ := age.Encrypt(&buf, r)
		w.Write(inner)
		w.Close()
		return &rendezvousv1.SealedOffer{TargetFingerprint: o.TargetFingerprint, TimestampUnixMs: o.TimestampUnixMs, Nonce: o.Nonce, Sealed: buf.Bytes()}
	}
	honest := offer()
	honest.PublicKey = bob.Public().Bytes()
	if from, _, err := OpenOffer(alice, sealRaw(bob, honest)); err != nil || from != bob.Public() {
		t.Fatalf("an honest offer: from %s, %v", from.Short(), err)
	}
	lying := offer()
	lying.PublicKey = carol.Public().Bytes() // signed by Bob, naming Carol
	if _, _, err := OpenOffer(alice, sealRaw(bob, lying)); !errors.Is(err, ErrBadOffer) {
		t.Errorf("a body naming another key than its signer's: %v, want ErrBadOffer", err)
	}
	// Sealed to Alice's key, addressed in the signed body to Carol.
	elsewhere, err := sealOfferTo(bob, alice.Public(), carol.Public().Fingerprint(), offer(), now)
	if err != nil {
		t.Fatal(err)
	}
	elsewhere.TargetFingerprint = string(alice.Public().Fingerprint())
	if _, _, err := OpenOffer(alice, elsewhere); !errors.Is(err, ErrBadOffer) {
		t.Errorf("a body addressed to another person: %v, want ErrBadOffer", err)
	}
	// The frame names Carol around a body for Alice.
	reframed, err := sealOfferTo(bob, alice.Public(), alice.Public().Fingerprint(), offer(), now)
	if err != nil {
		t.Fatal(err)
	}
	reframed.TargetFingerprint = string(carol.Public().Fingerprint())
	if _, _, err := OpenOffer(alice, reframed); !errors.Is(err, ErrBadOffer) {
		t.Errorf("a frame naming another target: %v, want ErrBadOffer", err)
	}
}

// TestRegisterTwiceInOneMillisecond: a refresh right after a registration, with the
// clock still on the same millisecond, registers a newer record instead of being
// refused as "not newer" (which ended the session and moved the node to the next
// server).
func TestRegisterTwiceInOneMillisecond(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{})
	frozen := time.Now()
	a := run(t, Config{Key: newKey(t), Servers: []string{srv.GRPC}, Now: func() time.Time { return frozen }})
	waitRegistered(t, a, srv.GRPC)
	for range 3 {
		a.Refresh()
		time.Sleep(100 * time.Millisecond)
	}
	if st := a.Status(); !st.Registered || st.Err != "" {
		t.Fatalf("after refreshes within one millisecond: registered %v, err %q", st.Registered, st.Err)
	}
}

// TestSilentServerFailover: the first server listed accepts TCP connections and never
// answers (a hung process, a black-holing network); the client gives up on it after
// connectWait and registers with the second, well before the 10 s an RPC would wait
// (and gRPC's 20 s for a connection).
func TestSilentServerFailover(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() }) // held open, never answered
		}
	}()
	live := rendezvoustest.Start(t, rendezvous.Config{})
	start := time.Now()
	c := run(t, Config{Key: newKey(t), Servers: []string{silent.Addr().String(), live.GRPC}, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	waitRegistered(t, c, live.GRPC)
	if took := time.Since(start); took > connectWait+2*time.Second {
		t.Errorf("registered with the second server %v after start, want within %v of a silent first one", took.Round(100*time.Millisecond), connectWait+2*time.Second)
	}
}
