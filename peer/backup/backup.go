// Package backup is the format of a kith export: a magic line and the home's snapshot,
// encrypted with age under a passphrase (scrypt). The CLI writes it to a file; the web
// app streams it to the browser.
package backup

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
)

// Errors of Decrypt.
var (
	// ErrWrongPassphrase means the passphrase does not open the file.
	ErrWrongPassphrase = errors.New("wrong passphrase (or not a kith export)")
	// ErrNotExport means the file is not a kith export, or is damaged.
	ErrNotExport = errors.New("not a kith export, or damaged")
)

// Magic starts the plaintext of every export, so a decrypted file of another kind is
// refused before anything is written.
const Magic = "kith-export-v1\n"

// Encrypt returns a writer that age-encrypts what is written to it into w under pass,
// after Magic. workFactor is log2 of scrypt's N; 0 means age's default. Close it to
// finish the file; w is not closed.
func Encrypt(w io.Writer, pass []byte, workFactor int) (io.WriteCloser, error) {
	r, err := age.NewScryptRecipient(string(pass))
	if err != nil {
		return nil, fmt.Errorf("encrypt export: %w", err)
	}
	if workFactor > 0 {
		r.SetWorkFactor(workFactor)
	}
	ew, err := age.Encrypt(w, r)
	if err != nil {
		return nil, fmt.Errorf("encrypt export: %w", err)
	}
	if _, err := io.WriteString(ew, Magic); err != nil {
		return nil, fmt.Errorf("encrypt export: %w", err)
	}
	return ew, nil
}

// Decrypt opens an export read from r under pass and checks its magic line; the reader
// it returns yields the snapshot. age authenticates every chunk and the end of the
// stream, so reading a damaged or truncated file to its end fails.
func Decrypt(r io.Reader, pass []byte) (io.Reader, error) {
	id, err := age.NewScryptIdentity(string(pass))
	if err != nil {
		return nil, err
	}
	dr, err := age.Decrypt(r, id)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return nil, ErrWrongPassphrase
		}
		return nil, fmt.Errorf("%w: %v", ErrNotExport, err)
	}
	magic := make([]byte, len(Magic))
	if _, err := io.ReadFull(dr, magic); err != nil || !bytes.Equal(magic, []byte(Magic)) {
		return nil, ErrNotExport
	}
	return dr, nil
}
