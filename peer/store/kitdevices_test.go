package store

import (
	"testing"
	"time"

	"github.com/kithnet/kith/peer/recovery"
)

// TestKitKeepsDevices: adding and revoking a device makes a newer recovery kit, which
// lists the devices and the revocations; a home that restores the identity from a key
// backup and that kit knows the devices (the revoked mark kept), holds the revocation,
// can revoke a device the lost home had added, and can add a new one. A device the
// restoring home lists already keeps its entry; a taken name is not reused.
func TestKitKeepsDevices(t *testing.T) {
	first, alice := initT(t)
	rev0, err := first.KitRevision()
	if err != nil {
		t.Fatal(err)
	}
	laptop, phone := newKey(t), newKey(t)
	if _, err := first.AddDevice("laptop", laptop.Public(), []byte("laptop01"), time.Hour); err != nil {
		t.Fatal(err)
	}
	rev1, _ := first.KitRevision()
	if !rev1.After(rev0) {
		t.Fatalf("adding a device left the kit's revision at %v", rev1)
	}
	if _, err := first.AddDevice("phone", phone.Public(), []byte("phone001"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := first.RevokeDevice("phone"); err != nil {
		t.Fatal(err)
	}
	rev2, _ := first.KitRevision()
	if !rev2.After(rev1) {
		t.Fatalf("revoking a device left the kit's revision at %v", rev2)
	}
	kit, err := first.OwnKit()
	if err != nil {
		t.Fatal(err)
	}
	if len(kit.Devices) != 3 || len(kit.Revocations) != 1 {
		t.Fatalf("kit lists %d devices, %d revocations; want first, laptop, phone and phone's revocation", len(kit.Devices), len(kit.Revocations))
	}
	// Through the sealed kit, as recovery gets it from a friend.
	env, err := recovery.Seal(alice, kit)
	if err != nil {
		t.Fatal(err)
	}
	opened, err := recovery.Open(env, alice)
	if err != nil {
		t.Fatal(err)
	}

	restored := openT(t, t.TempDir())
	if err := restored.Init(alice, ""); err != nil {
		t.Fatal(err)
	}
	// This home made a device "laptop" of its own before the kit came back.
	other := newKey(t)
	if _, err := restored.AddDevice("laptop", other.Public(), []byte("other001"), time.Hour); err != nil {
		t.Fatal(err)
	}
	// And it listed the phone too (its revocation is in the kit, not here yet).
	if _, err := restored.AddDevice("phone", phone.Public(), []byte("phone002"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := restored.RestoreKit(opened, newKey(t).Public(), ""); err != nil {
		t.Fatal(err)
	}
	byKey := map[string]Device{}
	ds, err := restored.Devices()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		byKey[string(d.Key[:])] = d
	}
	if d := byKey[string(other.Public().Bytes())]; d.Name != "laptop" {
		t.Errorf("the restoring home's own laptop is %+v, want kept as laptop", d)
	}
	if d := byKey[string(laptop.Public().Bytes())]; d.Name != "laptop (recovered)" || d.Revoked || d.Certificate == nil {
		t.Errorf("the lost home's laptop came back as %+v, want \"laptop (recovered)\", not revoked, with its certificate", d)
	}
	if d := byKey[string(phone.Public().Bytes())]; d.Name != "phone" || !d.Revoked {
		t.Errorf("the revoked phone came back as %+v, want revoked", d)
	}
	if len(ds) != 4 {
		t.Errorf("%d devices after the restore, want 4: %+v", len(ds), ds)
	}
	if restored.IsOwnDevice(phone.Public()) || !restored.IsOwnDevice(laptop.Public()) {
		t.Error("after the restore the revoked phone counts as own, or the laptop does not")
	}
	revs, err := restored.Revocations(alice.Public())
	if err != nil || len(revs) != 1 || revs[0].Key != phone.Public() {
		t.Fatalf("revocations after the restore = %v, %v; want the phone's", revs, err)
	}
	// The recovered identity revokes what the lost home added, and adds a new device.
	if _, err := restored.RevokeDevice("laptop (recovered)"); err != nil {
		t.Fatalf("revoking the lost home's laptop: %v", err)
	}
	if revs, _ := restored.Revocations(alice.Public()); len(revs) != 2 {
		t.Fatalf("%d revocations after revoking the laptop, want 2", len(revs))
	}
	if _, err := restored.AddDevice("new laptop", newKey(t).Public(), []byte("newlapt1"), time.Hour); err != nil {
		t.Fatalf("adding a device after the restore: %v", err)
	}
	// A second restore of the same kit does not bring the revoked laptop back to life.
	if err := restored.RestoreKit(opened, newKey(t).Public(), ""); err != nil {
		t.Fatal(err)
	}
	if restored.IsOwnDevice(laptop.Public()) {
		t.Error("restoring the kit again un-revoked the laptop")
	}
}
