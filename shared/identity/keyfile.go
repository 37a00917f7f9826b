package identity

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// Errors of key files.
var (
	// ErrKeyFileMode means a key file can be read by group or others.
	ErrKeyFileMode = errors.New("key file is readable by other users")
	// ErrMalformedKeyFile means a file is not a kith key file.
	ErrMalformedKeyFile = errors.New("not a kith key file")
	// ErrPassphraseRequired means a key file is encrypted and no passphrase was given.
	ErrPassphraseRequired = errors.New("key file is encrypted: a passphrase is required")
	// ErrWrongPassphrase means the passphrase does not decrypt the key file.
	ErrWrongPassphrase = errors.New("wrong passphrase")
	// ErrKeyFileExists means writing would overwrite an existing key file.
	ErrKeyFileExists = errors.New("key file already exists; refusing to overwrite it")
)

const pemType = "KITH PRIVATE KEY"

// DefaultScryptWorkFactor is age's default: about a second to derive a key here.
const DefaultScryptWorkFactor = 18

// KeyFileOptions tunes how a key file is written.
type KeyFileOptions struct {
	// Passphrase encrypts the key with age (scrypt) when non-empty.
	Passphrase []byte
	// ScryptWorkFactor is log2 of scrypt's N; 0 means DefaultScryptWorkFactor. Tests lower it.
	ScryptWorkFactor int
}

// MarshalKey encodes k as a key file: PEM, inside age armor when a passphrase is set.
func MarshalKey(k *Key, opts KeyFileOptions) ([]byte, error) {
	plain := pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: k.Seed()})
	if len(opts.Passphrase) == 0 {
		return plain, nil
	}
	r, err := age.NewScryptRecipient(string(opts.Passphrase))
	if err != nil {
		return nil, fmt.Errorf("encrypt key: %w", err)
	}
	wf := opts.ScryptWorkFactor
	if wf == 0 {
		wf = DefaultScryptWorkFactor
	}
	r.SetWorkFactor(wf)
	var out bytes.Buffer
	aw := armor.NewWriter(&out)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return nil, fmt.Errorf("encrypt key: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return nil, fmt.Errorf("encrypt key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encrypt key: %w", err)
	}
	if err := aw.Close(); err != nil {
		return nil, fmt.Errorf("encrypt key: %w", err)
	}
	return out.Bytes(), nil
}

// IsEncryptedKey reports whether data is a passphrase-protected key file.
func IsEncryptedKey(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimSpace(data), []byte(armor.Header))
}

// UnmarshalKey decodes a key file, decrypting it with passphrase when it is encrypted.
func UnmarshalKey(data, passphrase []byte) (*Key, error) {
	if IsEncryptedKey(data) {
		if len(passphrase) == 0 {
			return nil, ErrPassphraseRequired
		}
		plain, err := decrypt(data, passphrase)
		if err != nil {
			return nil, err
		}
		data = plain
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != pemType || len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: want one %q PEM block", ErrMalformedKeyFile, pemType)
	}
	k, err := FromSeed(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedKeyFile, err)
	}
	return k, nil
}

func decrypt(data, passphrase []byte) ([]byte, error) {
	id, err := age.NewScryptIdentity(string(passphrase))
	if err != nil {
		return nil, fmt.Errorf("decrypt key: %w", err)
	}
	r, err := age.Decrypt(armor.NewReader(bytes.NewReader(data)), id)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return nil, ErrWrongPassphrase
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformedKeyFile, err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedKeyFile, err)
	}
	return plain, nil
}

// WriteKeyFile writes k to path with mode 0600. It never overwrites an existing file and
// never leaves a partial one: the key is written beside path and linked into place.
func WriteKeyFile(path string, k *Key, opts KeyFileOptions) error {
	data, err := MarshalKey(k, opts)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".kith-key-*")
	if err != nil {
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("write key file %s: %w", path, ErrKeyFileExists)
		}
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	return nil
}

// ReadKeyFile reads a key file, refusing one that group or others can read. passphrase
// is called only when the file is encrypted; it may be nil for unencrypted files.
func ReadKeyFile(path string, passphrase func() ([]byte, error)) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	if mode := st.Mode().Perm(); mode&0o077 != 0 {
		return nil, fmt.Errorf("read key file %s: %w (mode %04o); run: chmod 600 %s",
			path, ErrKeyFileMode, mode, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	var pass []byte
	if IsEncryptedKey(data) && passphrase != nil {
		if pass, err = passphrase(); err != nil {
			return nil, fmt.Errorf("read key file %s: %w", path, err)
		}
	}
	k, err := UnmarshalKey(data, pass)
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	return k, nil
}
