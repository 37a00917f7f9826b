// Package backup is the format of a kith export: a magic line and the home's snapshot,
// encrypted with age under a passphrase (scrypt). The CLI writes it to a file; the web
// app streams it to the browser.
package backup

import (
	"fmt"
	"io"

	"filippo.io/age"
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
