package identity

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"filippo.io/age/armor"
)

func pass(p string) func() ([]byte, error) {
	return func() ([]byte, error) { return []byte(p), nil }
}

func TestKeyFilePlainAndEncrypted(t *testing.T) {
	k := newKey(t)
	for _, tc := range []struct {
		name string
		opts KeyFileOptions
	}{
		{"plain", KeyFileOptions{}},
		{"encrypted", KeyFileOptions{Passphrase: []byte("correct horse"), ScryptWorkFactor: 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "key")
			if err := WriteKeyFile(path, k, tc.opts); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Fatalf("mode %04o, want 0600", st.Mode().Perm())
			}
			got, err := ReadKeyFile(path, pass(string(tc.opts.Passphrase)))
			if err != nil {
				t.Fatal(err)
			}
			if got.Public() != k.Public() {
				t.Fatalf("read key %s, want %s", got.ID(), k.ID())
			}
			data, _ := os.ReadFile(path)
			if enc := IsEncryptedKey(data); enc != (len(tc.opts.Passphrase) > 0) {
				t.Fatalf("IsEncryptedKey = %v", enc)
			}
			if err := WriteKeyFile(path, newKey(t), tc.opts); !errors.Is(err, ErrKeyFileExists) {
				t.Fatalf("overwrite: %v, want ErrKeyFileExists", err)
			}
			again, _ := ReadKeyFile(path, pass(string(tc.opts.Passphrase)))
			if again == nil || again.Public() != k.Public() {
				t.Fatal("a refused overwrite changed the key file")
			}
		})
	}
}

func TestKeyFileRefusals(t *testing.T) {
	k := newKey(t)
	dir := t.TempDir()
	enc := filepath.Join(dir, "enc")
	if err := WriteKeyFile(enc, k, KeyFileOptions{Passphrase: []byte("right"), ScryptWorkFactor: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKeyFile(enc, pass("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
	if _, err := ReadKeyFile(enc, nil); !errors.Is(err, ErrPassphraseRequired) {
		t.Errorf("no passphrase: %v", err)
	}
	open := filepath.Join(dir, "open")
	if err := WriteKeyFile(open, k, KeyFileOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644} {
		os.Chmod(open, mode)
		_, err := ReadKeyFile(open, nil)
		if !errors.Is(err, ErrKeyFileMode) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: %v, want ErrKeyFileMode telling to chmod 600", mode, err)
		}
	}
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("not a key"), 0o600)
	if _, err := ReadKeyFile(garbage, nil); !errors.Is(err, ErrMalformedKeyFile) {
		t.Errorf("garbage: %v", err)
	}
	data, _ := os.ReadFile(enc)
	trunc := filepath.Join(dir, "trunc")
	os.WriteFile(trunc, data[:len(data)/2], 0o600)
	if _, err := ReadKeyFile(trunc, pass("right")); err == nil || errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("truncated: %v, want a malformed-file error", err)
	}
}

// TestKeyFileWorkFactor: an encrypted key file is made with the scrypt work factor asked
// for, not the default (which takes seconds here, so its own case is left out).
func TestKeyFileWorkFactor(t *testing.T) {
	k, err := Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ asked, want int }{{10, 10}, {11, 11}} {
		data, err := MarshalKey(k, KeyFileOptions{Passphrase: []byte("pass phrase"), ScryptWorkFactor: tc.asked})
		if err != nil {
			t.Fatal(err)
		}
		hdr, err := io.ReadAll(io.LimitReader(armor.NewReader(bytes.NewReader(data)), 200))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(hdr), "\n")
		f := strings.Fields(lines[1])
		if len(f) != 4 || f[1] != "scrypt" || f[3] != strconv.Itoa(tc.want) {
			t.Errorf("work factor %d asked: stanza %q, want scrypt with %d", tc.asked, lines[1], tc.want)
		}
	}
}
