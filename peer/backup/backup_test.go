package backup

import (
	"bytes"
	"errors"
	"io"
	"testing"
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
