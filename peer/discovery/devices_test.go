package discovery

import (
	"errors"
	"testing"
	"time"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
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
