package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/shared/identity"
)

// metaValue reads one meta entry of st.
func metaValue(t *testing.T, st *Store, key []byte) []byte {
	t.Helper()
	var v []byte
	if err := st.db.View(func(tx *bolt.Tx) error {
		v = append([]byte(nil), tx.Bucket(bMeta).Get(key)...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestDeviceKeyAtRest: a device joined with a passphrase keeps its key only encrypted
// (no seed in the file); reopened, it knows its person and device key but cannot sign
// until unlocked; a wrong passphrase, or a key file of another key, is refused and
// changes nothing; the right one unlocks it.
func TestDeviceKeyAtRest(t *testing.T) {
	opts := identity.KeyFileOptions{Passphrase: []byte("laptop passphrase"), ScryptWorkFactor: 10}
	_, laptop, alice, dev, home := joinAtRestT(t, opts)

	if enc, err := laptop.KeyEncrypted(); err != nil || !enc {
		t.Fatalf("KeyEncrypted = %v, %v; want true", enc, err)
	}
	if len(metaValue(t, laptop, metaDevSeed)) != 0 || len(metaValue(t, laptop, metaDevSeedEnc)) == 0 {
		t.Fatal("want devseedenc and no devseed")
	}
	raw, err := os.ReadFile(filepath.Join(home, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, dev.Seed()) {
		t.Fatal("the device seed is in the store file in plain")
	}
	if !laptop.IsDevice() {
		t.Fatal("IsDevice = false for a device whose key is encrypted")
	}
	if self, err := laptop.Self(); err != nil || self != alice.Public() {
		t.Fatalf("Self = %v, %v; want alice", self, err)
	}
	if k, err := laptop.SigningKey(); err != nil || k != dev.Public() {
		t.Fatalf("SigningKey while locked = %v, %v; want the device key", k, err)
	}
	if _, err := laptop.Signer(); !errors.Is(err, ErrKeyLocked) {
		t.Fatalf("Signer while locked = %v, want ErrKeyLocked", err)
	}
	if _, err := laptop.Key(); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("Key on a device = %v, want ErrNoIdentity", err)
	}

	before := metaValue(t, laptop, metaDevSeedEnc)
	if err := laptop.Unlock([]byte("wrong")); !errors.Is(err, identity.ErrWrongPassphrase) {
		t.Fatalf("Unlock(wrong) = %v, want ErrWrongPassphrase", err)
	}
	if _, err := laptop.Signer(); !errors.Is(err, ErrKeyLocked) {
		t.Fatalf("Signer after a wrong passphrase = %v, want still locked", err)
	}
	if !bytes.Equal(metaValue(t, laptop, metaDevSeedEnc), before) {
		t.Fatal("a wrong passphrase changed the stored key")
	}
	if err := laptop.Unlock(opts.Passphrase); err != nil {
		t.Fatalf("Unlock(right) = %v", err)
	}
	g, err := laptop.Signer()
	if err != nil || g.Key.Public() != dev.Public() || g.Person != alice.Public() || g.Certificate == nil {
		t.Fatalf("Signer after unlocking = %+v, %v", g, err)
	}
	if _, err := laptop.Publish(NewPost{Text: "signed by an unlocked device key"}); err != nil {
		t.Fatalf("publish after unlocking: %v", err)
	}
}

// TestDeviceKeyAtRestOtherKey: a key file that opens with the passphrase but holds a
// key other than the one the certificate names is refused.
func TestDeviceKeyAtRestOtherKey(t *testing.T) {
	opts := identity.KeyFileOptions{Passphrase: []byte("laptop passphrase"), ScryptWorkFactor: 10}
	_, laptop, _, _, _ := joinAtRestT(t, opts)
	other, err := identity.MarshalKey(newKey(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := laptop.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put(metaDevSeedEnc, other) }); err != nil {
		t.Fatal(err)
	}
	if err := laptop.Unlock(opts.Passphrase); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Unlock of another key = %v, want ErrCorrupt", err)
	}
	if _, err := laptop.Signer(); !errors.Is(err, ErrKeyLocked) {
		t.Fatalf("Signer after refusing another key = %v, want still locked", err)
	}
}

// TestDeviceKeyAtRestExportImport: a device's export carries its key encrypted, and
// the imported home needs the same passphrase; a plain device home stays plain and
// has nothing to unlock.
func TestDeviceKeyAtRestExportImport(t *testing.T) {
	opts := identity.KeyFileOptions{Passphrase: []byte("laptop passphrase"), ScryptWorkFactor: 10}
	_, laptop, _, dev, _ := joinAtRestT(t, opts)
	var buf bytes.Buffer
	if err := laptop.Export(&buf, nil); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), dev.Seed()) {
		t.Fatal("the export carries the device seed in plain")
	}
	home := t.TempDir()
	if err := Import(home, &buf); err != nil {
		t.Fatal(err)
	}
	st := openT(t, home)
	if enc, err := st.KeyEncrypted(); err != nil || !enc {
		t.Fatalf("imported KeyEncrypted = %v, %v; want true", enc, err)
	}
	if _, err := st.Signer(); !errors.Is(err, ErrKeyLocked) {
		t.Fatalf("imported Signer = %v, want ErrKeyLocked", err)
	}
	if err := st.Unlock(opts.Passphrase); err != nil {
		t.Fatal(err)
	}
	if g, err := st.Signer(); err != nil || g.Key.Public() != dev.Public() {
		t.Fatalf("imported Signer after unlocking = %+v, %v", g, err)
	}

	_, plain, _, _ := joinT(t)
	if enc, err := plain.KeyEncrypted(); err != nil || enc {
		t.Fatalf("a plain device: KeyEncrypted = %v, %v", enc, err)
	}
	if err := plain.Unlock(opts.Passphrase); !errors.Is(err, errNotEncrypted) {
		t.Fatalf("Unlock on a plain device = %v, want errNotEncrypted", err)
	}
}

// TestInitEncryptedRefusesAHomeWithAKey: InitEncrypted on a home that holds an identity,
// or a device key encrypted at rest, fails with ErrHasIdentity and leaves the key this
// process uses as it was.
func TestInitEncryptedRefusesAHomeWithAKey(t *testing.T) {
	opts := identity.KeyFileOptions{Passphrase: []byte("laptop passphrase"), ScryptWorkFactor: 10}
	first, alice := initT(t)
	if err := first.InitEncrypted(newKey(t), "again", opts); !errors.Is(err, ErrHasIdentity) {
		t.Fatalf("InitEncrypted on an identity home = %v, want ErrHasIdentity", err)
	}
	if k, err := first.Key(); err != nil || k.Public() != alice.Public() {
		t.Fatalf("Key after a refused InitEncrypted = %v, %v; want the first identity", k, err)
	}
	_, laptop, _, _, _ := joinAtRestT(t, opts)
	if err := laptop.InitEncrypted(newKey(t), "again", opts); !errors.Is(err, ErrHasIdentity) {
		t.Fatalf("InitEncrypted on a device home = %v, want ErrHasIdentity", err)
	}
	if _, err := laptop.Key(); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("Key on a device after a refused InitEncrypted = %v, want ErrNoIdentity", err)
	}
}
