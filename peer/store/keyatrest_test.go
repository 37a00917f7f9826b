package store

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/kithnet/kith/shared/identity"
)

// A key encrypted at init is not in kith.db in the clear; the store needs the passphrase
// to sign, knows its ID without it, and a wrong passphrase changes nothing.
func TestKeyEncryptedAtRest(t *testing.T) {
	home := t.TempDir()
	key, _ := identity.Generate(rand.Reader)
	st, err := Open(Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	opts := identity.KeyFileOptions{Passphrase: []byte("correct horse battery"), ScryptWorkFactor: 10}
	if err := st.InitEncrypted(key, "me", opts); err != nil {
		t.Fatal(err)
	}
	if err := st.Init(key, "again"); !errors.Is(err, ErrHasIdentity) {
		t.Fatalf("Init over an encrypted identity: %v, want ErrHasIdentity", err)
	}
	st.Close()
	raw, err := os.ReadFile(filepath.Join(home, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, key.Seed()) || bytes.Contains(raw, key.PrivateKey()) {
		t.Fatal("kith.db holds the identity key in the clear")
	}

	st, err = Open(Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if self, err := st.Self(); err != nil || self != key.Public() {
		t.Fatalf("Self = %v, %v; want the ID without the passphrase", self, err)
	}
	if _, err := st.Key(); !errors.Is(err, ErrKeyLocked) {
		t.Fatalf("Key before Unlock: %v, want ErrKeyLocked", err)
	}
	if _, err := st.Publish(NewPost{Text: "x"}); !errors.Is(err, ErrKeyLocked) {
		t.Fatalf("Publish before Unlock: %v, want ErrKeyLocked", err)
	}
	if err := st.Unlock([]byte("wrong")); !errors.Is(err, identity.ErrWrongPassphrase) {
		t.Fatalf("Unlock with a wrong passphrase: %v, want ErrWrongPassphrase", err)
	}
	if _, err := st.Key(); !errors.Is(err, ErrKeyLocked) {
		t.Fatalf("Key after a wrong passphrase: %v, want still locked", err)
	}
	if err := st.Unlock(opts.Passphrase); err != nil {
		t.Fatal(err)
	}
	if k, err := st.Key(); err != nil || k.Public() != key.Public() {
		t.Fatalf("Key after Unlock: %v", err)
	}
	if _, err := st.Publish(NewPost{Text: "signed after unlock"}); err != nil {
		t.Fatal(err)
	}
}
