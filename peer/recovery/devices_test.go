package recovery

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// certFor issues owner's certificate for dev, marshalled as a kit keeps it.
func certFor(t *testing.T, owner *identity.Key, dev identity.PublicKey) []byte {
	t.Helper()
	id := make([]byte, device.IDLen)
	if _, err := rand.Read(id); err != nil {
		t.Fatal(err)
	}
	env, err := device.Issue(owner, dev, id, time.Now().Add(-time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := proto.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// revocationOf revokes the device certified by raw, signed by by.
func revocationOf(t *testing.T, owner, by *identity.Key, raw []byte) *signedv1.Envelope {
	t.Helper()
	var env signedv1.Envelope
	if err := proto.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	c, err := device.Open(&env, owner.Public())
	if err != nil {
		t.Fatal(err)
	}
	rev, err := device.Revoke(by, c, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// TestKitCarriesDevices: a version 3 kit carries the owner's devices (the identity
// holder without a certificate, others with the owner's certificate for exactly their
// key) and the owner's revocations, and gives them back as sealed.
func TestKitCarriesDevices(t *testing.T) {
	owner, dev := key(t), key(t)
	cert := certFor(t, owner, dev.Public())
	kit := Kit{Name: "Alice", Created: time.UnixMilli(1700000000123),
		Devices: []Device{
			{Key: owner.Public(), Name: "first"},
			{Key: dev.Public(), Name: "laptop", Certificate: cert, Revoked: true},
		},
		Revocations: []*signedv1.Envelope{revocationOf(t, owner, owner, cert)}}
	env, err := Seal(owner, kit)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(env, owner)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Devices) != 2 || got.Devices[0].Key != owner.Public() || got.Devices[0].Name != "first" ||
		got.Devices[0].Certificate != nil || got.Devices[0].Revoked ||
		got.Devices[1].Key != dev.Public() || got.Devices[1].Name != "laptop" || !got.Devices[1].Revoked ||
		string(got.Devices[1].Certificate) != string(cert) {
		t.Fatalf("devices = %+v", got.Devices)
	}
	if len(got.Revocations) != 1 || !proto.Equal(got.Revocations[0], kit.Revocations[0]) {
		t.Fatalf("revocations = %v", got.Revocations)
	}
}

// TestKitRefusesOthersDevices: a kit whose device list or revocations are not the
// owner's does not open (ErrUnreadable), whatever else it holds; too many devices or
// revocations are refused when sealed (ErrTooLarge) and when opened.
func TestKitRefusesOthersDevices(t *testing.T) {
	owner, dev, mallory := key(t), key(t), key(t)
	cert := certFor(t, owner, dev.Public())
	othersCert := certFor(t, mallory, dev.Public())
	for _, tc := range []struct {
		name, want string
		contents   *syncv1.RecoveryKitContents
	}{
		{"a certificate for another key", "another key", &syncv1.RecoveryKitContents{Devices: []*syncv1.KitDevice{
			{Key: mallory.Public().Bytes(), Name: "x", Certificate: cert}}}},
		{"a certificate by someone else", "\"x\"", &syncv1.RecoveryKitContents{Devices: []*syncv1.KitDevice{
			{Key: dev.Public().Bytes(), Name: "x", Certificate: othersCert}}}},
		{"no certificate, not the owner", "no certificate", &syncv1.RecoveryKitContents{Devices: []*syncv1.KitDevice{
			{Key: dev.Public().Bytes(), Name: "x"}}}},
		{"a certificate that is no envelope", "certificate", &syncv1.RecoveryKitContents{Devices: []*syncv1.KitDevice{
			{Key: dev.Public().Bytes(), Name: "x", Certificate: []byte{0xff, 0xff}}}}},
		{"a short key", "device \"x\"", &syncv1.RecoveryKitContents{Devices: []*syncv1.KitDevice{
			{Key: []byte{1, 2, 3}, Name: "x"}}}},
		{"a revocation by someone else", "revocation", &syncv1.RecoveryKitContents{
			Revocations: []*signedv1.Envelope{revocationOf(t, mallory, mallory, othersCert)}}},
		{"too many devices", "devices", &syncv1.RecoveryKitContents{Devices: make([]*syncv1.KitDevice, MaxDevices+1)}},
		{"too many revocations", "revocations", &syncv1.RecoveryKitContents{Revocations: make([]*signedv1.Envelope, MaxRevocations+1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain, err := proto.Marshal(tc.contents)
			if err != nil {
				t.Fatal(err)
			}
			env, err := sealPlain(owner, time.Now(), plain)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Open(env, owner); !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v, want ErrUnreadable naming %q", err, tc.want)
			}
		})
	}
	// The bounds themselves: MaxDevices and MaxRevocations entries seal; one more does not.
	full := Kit{Devices: make([]Device, MaxDevices), Revocations: make([]*signedv1.Envelope, MaxRevocations)}
	for i := range full.Devices {
		full.Devices[i] = Device{Key: owner.Public(), Name: "first"}
	}
	for i := range full.Revocations {
		full.Revocations[i] = revocationOf(t, owner, owner, cert)
	}
	env, err := Seal(owner, full)
	if err != nil {
		t.Fatalf("a kit at both bounds: %v", err)
	}
	if got, err := Open(env, owner); err != nil || len(got.Devices) != MaxDevices || len(got.Revocations) != MaxRevocations {
		t.Fatalf("a kit at both bounds opens to %d devices, %d revocations, %v", len(got.Devices), len(got.Revocations), err)
	}
	for _, k := range []Kit{
		{Devices: append(full.Devices, full.Devices[0])},
		{Revocations: append(full.Revocations, full.Revocations[0])},
	} {
		if _, err := Seal(owner, k); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Seal of %d devices, %d revocations = %v, want ErrTooLarge", len(k.Devices), len(k.Revocations), err)
		}
	}
}
