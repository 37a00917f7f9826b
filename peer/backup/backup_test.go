package backup

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
)

// An export opens with its passphrase and gives back exactly what went in; a wrong
// passphrase, a truncated file and a file of another kind are each refused.
func TestRoundTrip(t *testing.T) {
	var file bytes.Buffer
	w, err := Encrypt(&file, []byte("right"), 10)
	if err != nil {
		t.Fatal(err)
	}
	snapshot := bytes.Repeat([]byte("snapshot "), 10000)
	w.Write(snapshot)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Decrypt(bytes.NewReader(file.Bytes()), []byte("right"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, snapshot) {
		t.Fatalf("decrypted %d bytes, %v; want the %d bytes written", len(got), err, len(snapshot))
	}
	if _, err := Decrypt(bytes.NewReader(file.Bytes()), []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
	if _, err := Decrypt(bytes.NewReader([]byte("not an export")), []byte("right")); !errors.Is(err, ErrNotExport) {
		t.Errorf("not an export: %v", err)
	}
	r, err = Decrypt(bytes.NewReader(file.Bytes()[:file.Len()-100]), []byte("right"))
	if err == nil {
		_, err = io.ReadAll(r)
	}
	if err == nil {
		t.Error("a truncated export read to its end without an error")
	}
	var other bytes.Buffer
	ow, _ := Encrypt(&other, []byte("right"), 10)
	ow.Close()
	raw := other.Bytes()
	if _, err := Decrypt(bytes.NewReader(raw), []byte("right")); err != nil {
		t.Errorf("an empty export: %v", err)
	}
}

// scryptWorkFactor reads the scrypt stanza's work factor from an age file's header
// ("-> scrypt SALT LOGN").
func scryptWorkFactor(t *testing.T, file []byte) string {
	t.Helper()
	for _, line := range strings.Split(string(file), "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "->" && f[1] == "scrypt" {
			return f[3]
		}
	}
	t.Fatalf("no scrypt stanza in the header %.200q", file)
	return ""
}

// The work factor given is the one written; 0 keeps age's default (2^18), which is what
// an export made by a person gets.
func TestEncryptWorkFactor(t *testing.T) {
	for _, tc := range []struct {
		workFactor int
		want       string
	}{{10, "10"}, {1, "1"}, {0, "18"}} {
		var file bytes.Buffer
		w, err := Encrypt(&file, []byte("pass"), tc.workFactor)
		if err != nil {
			t.Fatalf("Encrypt with work factor %d: %v", tc.workFactor, err)
		}
		w.Close()
		if got := scryptWorkFactor(t, file.Bytes()); got != tc.want {
			t.Errorf("work factor %d wrote scrypt log2(N) %s, want %s", tc.workFactor, got, tc.want)
		}
	}
	if _, err := Encrypt(io.Discard, nil, 10); err == nil {
		t.Error("an empty passphrase was accepted")
	}
}

// A file age opens with the passphrase but that is not a kith export (no magic line, or
// too short to hold one) is refused before its content is handed out.
func TestDecryptRefusesOtherAgeFiles(t *testing.T) {
	for _, plain := range []string{"", "kith", "kith-export-v0\nsnapshot", "not an export at all, but long enough"} {
		var file bytes.Buffer
		r, err := age.NewScryptRecipient("pass")
		if err != nil {
			t.Fatal(err)
		}
		r.SetWorkFactor(10)
		w, err := age.Encrypt(&file, r)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, plain)
		w.Close()
		if _, err := Decrypt(bytes.NewReader(file.Bytes()), []byte("pass")); !errors.Is(err, ErrNotExport) {
			t.Errorf("an age file holding %q: Decrypt = %v, want ErrNotExport", plain, err)
		}
	}
}
