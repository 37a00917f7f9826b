package discovery

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// TestVerifyDeviceRecords: Bob keeps exactly the records of Alice's devices that chain
// to Alice and are not revoked, one per device, the newest.
func TestVerifyDeviceRecords(t *testing.T) {
	now := time.Now()
	alice, mallory := newKey(t), newKey(t)
	type dev struct {
		key  *identity.Key
		id   string
		cert *signedv1.Envelope
	}
	mk := func(person *identity.Key, id string) dev {
		t.Helper()
		k := newKey(t)
		cert, err := device.Issue(person, k.Public(), []byte(id), now.Add(-time.Hour), 2*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return dev{k, id, cert}
	}
	record := func(d dev, ts time.Time, mutate func(*rendezvousv1.Registration)) *signedv1.Envelope {
		t.Helper()
		reg := &rendezvousv1.Registration{PublicKey: d.key.Public().Bytes(), TimestampUnixMs: ts.UnixMilli(),
			Version: rendezvousv1.RecordVersion_RECORD_VERSION_2, DeviceId: []byte(d.id), DeviceCertificate: d.cert}
		if mutate != nil {
			mutate(reg)
		}
		env, err := signed.Seal(d.key, identity.ContextRegistration, reg)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	laptop, desktop, gone, forged := mk(alice, "laptop01"), mk(alice, "desktop1"), mk(alice, "gone0001"), mk(mallory, "mallory1")
	c, _ := device.Open(gone.cert, alice.Public())
	revEnv, _ := device.Revoke(alice, c, now.Add(-time.Minute))
	rev, err := device.OpenRevocation(revEnv, alice.Public())
	if err != nil {
		t.Fatal(err)
	}
	identityRecord, _ := signed.Seal(alice, identity.ContextRegistration, &rendezvousv1.Registration{PublicKey: alice.Public().Bytes()})
	envs := []*signedv1.Envelope{
		record(laptop, now.Add(-time.Second), nil),
		record(laptop, now, func(r *rendezvousv1.Registration) { r.TtlSeconds = 77 }), // newer: kept
		record(desktop, now, nil),
		record(gone, now, nil),   // revoked
		record(forged, now, nil), // Mallory's certificate
		record(desktop, now.Add(time.Second), func(r *rendezvousv1.Registration) { r.DeviceId = []byte("laptop01") }), // id disagrees
		record(desktop, now, func(r *rendezvousv1.Registration) { r.PublicKey = laptop.key.Public().Bytes() }),        // names another key
		record(desktop, now, func(r *rendezvousv1.Registration) { r.DeviceCertificate = nil }),
		identityRecord, // not a device record
	}
	// Two records of one device with the same time: the first is kept (a tie never
	// replaces).
	tie := record(desktop, now, func(r *rendezvousv1.Registration) { r.TtlSeconds = 99 })
	if got, _ := VerifyDeviceRecords([]*signedv1.Envelope{record(desktop, now, nil), tie}, alice.Public(), nil, now); len(got) != 1 || got[0].Registration.GetTtlSeconds() == 99 {
		t.Fatalf("a tie: kept %d records, the second's ttl %v; want the first alone", len(got), got)
	}
	got, err := VerifyDeviceRecords(envs, alice.Public(), []device.Revocation{rev}, now)
	if len(got) != 2 || string(got[0].Cert.ID) != "laptop01" || got[0].Registration.GetTtlSeconds() != 77 ||
		string(got[1].Cert.ID) != "desktop1" {
		t.Fatalf("kept %d records; want the laptop's newest and the desktop's", len(got))
	}
	for _, want := range []error{device.ErrRevoked, device.ErrNotCertified, ErrBadRecord} {
		if !errors.Is(err, want) {
			t.Errorf("the joined error does not report %v: %v", want, err)
		}
	}
	if got, _ := VerifyDeviceRecords(envs, mallory.Public(), nil, now); len(got) != 1 || string(got[0].Cert.ID) != "mallory1" {
		t.Fatalf("looked up as Mallory's: kept %d, want only Mallory's own device", len(got))
	}
}

// TestTwoDevicesStayReachable: Alice's laptop and desktop run at once against one
// rendezvous. Both stay registered (neither logs being replaced), Bob finds both and
// reaches each with an offer that only it receives, knowing Bob as the caller; the
// desktop's answer reaches Bob as Alice's.
func TestTwoDevicesStayReachable(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{Keepalive: 100 * time.Millisecond})
	alice, bob := newKey(t), newKey(t)
	logs := &lockedBuf{}
	devs := map[string]*Client{}
	offers := map[string]chan Offer{}
	for _, name := range []string{"laptop01", "desktop1"} {
		d := rendezvoustest.NewDevice(t, alice, name)
		offers[name] = make(chan Offer, 4)
		ch := offers[name]
		devs[name] = run(t, Config{Key: d.Key, DeviceID: d.ID, DeviceCertificate: d.Cert, Servers: []string{srv.GRPC},
			Candidates: func() []*rendezvousv1.Candidate { return host("192.0.2.9:4700") },
			OnOffer:    func(o Offer) { ch <- o }, MinBackoff: 50 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	}
	bobOffers := make(chan Offer, 4)
	b := run(t, Config{Key: bob, Servers: []string{srv.GRPC}, OnOffer: func(o Offer) { bobOffers <- o }})
	for _, c := range devs {
		waitRegistered(t, c, srv.GRPC)
	}
	waitRegistered(t, b, srv.GRPC)
	time.Sleep(300 * time.Millisecond) // both Listens open

	found, err := b.LookupDevices(context.Background(), alice.Public(), nil)
	if err != nil || len(found) != 2 {
		t.Fatalf("Bob found %d of Alice's devices (%v), want 2", len(found), err)
	}
	for _, d := range found {
		rec, err := b.ConnectDevice(context.Background(), alice.Public(), d, rendezvousv1.OfferKind_OFFER_KIND_CONNECT, host("192.0.2.2:4700"), make([]byte, 16))
		if err != nil {
			t.Fatalf("connect to %s: %v", d.Cert.ID, err)
		}
		if !bytes.Equal(rec.Cert.ID, d.Cert.ID) || rec.Registration == nil {
			t.Fatalf("connect to %s answered with the record of device %q", d.Cert.ID, rec.Cert.ID)
		}
		select {
		case o := <-offers[string(d.Cert.ID)]:
			if o.From != bob.Public() || o.Person != bob.Public() {
				t.Fatalf("%s got an offer from %s (person %s), want Bob", d.Cert.ID, o.From.Short(), o.Person.Short())
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s got no offer", d.Cert.ID)
		}
	}
	for name, ch := range offers {
		select {
		case <-ch:
			t.Fatalf("%s got a second offer: the other device's", name)
		default:
		}
	}
	// A device's offer reaches Bob as Alice's.
	if _, err := devs["desktop1"].Connect(context.Background(), bob.Public(), rendezvousv1.OfferKind_OFFER_KIND_ANSWER, nil, make([]byte, 16)); err != nil {
		t.Fatalf("desktop -> Bob: %v", err)
	}
	select {
	case o := <-bobOffers:
		if o.Person != alice.Public() || o.From == alice.Public() {
			t.Fatalf("Bob sees the desktop's offer as from %s (person %s), want Alice via a device", o.From.Short(), o.Person.Short())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Bob got no offer from Alice's desktop")
	}
	for name, c := range devs {
		if !c.Status().Registered {
			t.Fatalf("%s is no longer registered", name)
		}
	}
	if l := logs.String(); strings.Contains(l, "replaced") {
		t.Fatalf("a device was replaced by the other:\n%s", l)
	}
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }
