package recovery

import (
	"crypto/rand"
	"errors"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

func key(t testing.TB) *identity.Key {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	owner, friend := key(t), key(t)
	kit := Kit{Name: "Alice", Created: time.UnixMilli(1700000000123),
		Friends: []Friend{{Key: friend.Public(), Name: "Bob", Addr: "192.0.2.7:4700", Groups: []string{"family"}}}}
	env, err := Seal(owner, kit)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(env, owner)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, kit) {
		t.Fatalf("Open = %+v, want %+v", got, kit)
	}
	// A holder verifies without reading; the holder's own key reads nothing.
	if created, _, err := Verify(env, owner.Public()); err != nil || !created.Equal(kit.Created) {
		t.Fatalf("Verify = %v, %v", created, err)
	}
	if _, err := Open(env, friend); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("Open with the holder's key: %v, want ErrNotOwner", err)
	}
	if _, _, err := Verify(env, friend.Public()); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("Verify as another owner: %v, want ErrNotOwner", err)
	}
}

// A friend cannot hand the owner a kit of its own making: it would not carry the
// owner's signature; and a kit encrypted to someone else does not open.
func TestForgedKits(t *testing.T) {
	owner, mallory := key(t), key(t)
	forged, err := Seal(mallory, Kit{Name: "Alice?"})
	if err != nil {
		t.Fatal(err)
	}
	forged.Signer = owner.Public().Bytes()
	if _, err := Open(forged, owner); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("forged signer: %v, want ErrNotOwner", err)
	}
	// Signed by the owner but naming another owner inside.
	var rk syncv1.RecoveryKit
	real, _ := Seal(owner, Kit{Name: "Alice"})
	proto.Unmarshal(real.Payload, &rk)
	rk.Owner = mallory.Public().Bytes()
	renamed, _ := signed.Seal(owner, identity.ContextRecoveryKit, &rk)
	if _, err := Open(renamed, owner); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("owner field of another key: %v, want ErrNotOwner", err)
	}
	// Signed by the owner, but the ciphertext is for mallory.
	other, _ := Seal(mallory, Kit{Name: "M"})
	proto.Unmarshal(other.Payload, &rk)
	rk.Owner = owner.Public().Bytes()
	wrongCT, _ := signed.Seal(owner, identity.ContextRecoveryKit, &rk)
	if _, err := Open(wrongCT, owner); !errors.Is(err, ErrUnreadable) {
		t.Fatalf("ciphertext for another key: %v, want ErrUnreadable", err)
	}
}

// FuzzOpen: whatever bytes arrive as a kit, Open never panics and accepts only what the
// owner signed.
func FuzzOpen(f *testing.F) {
	owner := key(f)
	env, _ := Seal(owner, Kit{Name: "A", Friends: []Friend{{Key: owner.Public(), Name: "x"}}})
	wire, _ := proto.Marshal(env)
	f.Add(wire)
	f.Fuzz(func(t *testing.T, b []byte) {
		var e signedv1.Envelope
		if proto.Unmarshal(b, &e) != nil {
			return
		}
		if _, err := Open(&e, owner); err == nil && string(e.Signer) != string(owner.Public().Bytes()) {
			t.Fatal("opened a kit not signed by its owner")
		}
	})
}
