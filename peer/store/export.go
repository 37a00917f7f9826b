package store

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	bolt "go.etcd.io/bbolt"
)

// ErrBadExport means an export stream is not one this store wrote, or is damaged.
var ErrBadExport = errors.New("not a kith home export, or damaged")

// Export writes the whole home as a tar stream: a consistent snapshot of the bbolt file,
// then every blob it indexes. progress, when set, is told bytes written and the total.
func (s *Store) Export(w io.Writer, progress func(done, total uint64)) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return s.exportTx(tx, w, tx.Size(), tx.WriteTo, progress)
	})
}

// exportTx writes the tar stream of Export from tx: the bbolt file of size bytes that
// writeDB writes, then the blobs tx indexes.
func (s *Store) exportTx(tx *bolt.Tx, w io.Writer, size int64, writeDB func(io.Writer) (int64, error), progress func(done, total uint64)) error {
	if progress == nil {
		progress = func(uint64, uint64) {}
	}
	type blob struct {
		sha  []byte
		size int64
	}
	var blobs []blob
	total := uint64(size)
	err := tx.Bucket(bBlobs).ForEach(func(k, v []byte) error {
		size := int64(blobSize(v))
		blobs = append(blobs, blob{append([]byte(nil), k...), size})
		total += uint64(size)
		return nil
	})
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	var done uint64
	count := func(n int64) { done += uint64(n); progress(done, total) }
	if err := tw.WriteHeader(&tar.Header{Name: FileName, Mode: 0o600, Size: size}); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	n, err := writeDB(tw)
	if err != nil {
		return fmt.Errorf("export %s: %w", FileName, err)
	}
	count(n)
	for _, b := range blobs {
		if err := exportBlob(tw, s.blobPath(b.sha), b.sha, b.size); err != nil {
			return err
		}
		count(b.size)
	}
	return tw.Close()
}

func exportBlob(tw *tar.Writer, path string, sha []byte, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("export blob %x: %w", sha, err)
	}
	defer f.Close()
	name := blobDir + "/" + hex.EncodeToString(sha)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size}); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if _, err := io.CopyN(tw, f, size); err != nil {
		return fmt.Errorf("export blob %x: %w", sha, err)
	}
	return nil
}

var blobName = regexp.MustCompile(`^` + blobDir + `/[0-9a-f]{64}$`)

// Import restores an Export stream into home, which must hold no store yet. Everything is
// unpacked beside the home's files and checked — the store opens, passes Check, has an
// identity, and every blob matches its hash — before anything takes its final name; on
// any error nothing is left behind.
func Import(home string, r io.Reader) (err error) {
	return importHome(home, r, func(st *Store) error {
		_, keyErr := st.Signer()                               // the identity's key, or a joined device's
		if keyErr != nil && !errors.Is(keyErr, ErrKeyLocked) { // an encrypted key is unlocked by the daemon
			return fmt.Errorf("%w: %v", ErrBadExport, keyErr)
		}
		return nil
	})
}

// importHome is Import with finish run on the unpacked store before it takes its final
// name: it checks (and may change) it; an error leaves nothing behind.
func importHome(home string, r io.Reader, finish func(*Store) error) (err error) {
	if _, err := os.Stat(filepath.Join(home, FileName)); err == nil {
		return fmt.Errorf("import: %s already has a store", home)
	}
	tmp, err := os.MkdirTemp(home, ".import-")
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Mkdir(filepath.Join(tmp, blobDir), 0o700); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if err := unpack(tmp, r); err != nil {
		return err
	}
	st, err := Open(Config{Home: tmp})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadExport, err)
	}
	checkErr := st.Check()
	if checkErr == nil {
		checkErr = finish(st)
	}
	if err := st.Close(); err != nil && checkErr == nil {
		checkErr = err
	}
	if checkErr != nil {
		return checkErr
	}
	if err := os.Rename(filepath.Join(tmp, blobDir), filepath.Join(home, blobDir)); err != nil {
		if err := moveBlobs(filepath.Join(tmp, blobDir), filepath.Join(home, blobDir)); err != nil {
			return fmt.Errorf("import: %w", err)
		}
	}
	return os.Rename(filepath.Join(tmp, FileName), filepath.Join(home, FileName))
}

// moveBlobs moves blob files into an existing (empty) blob directory.
func moveBlobs(from, to string) error {
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// unpack writes the store and blob entries of an export into dir, checking names and
// blob hashes; any other entry is an error.
func unpack(dir string, r io.Reader) error {
	tr := tar.NewReader(r)
	sawDB := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadExport, err)
		}
		switch {
		case h.Name == FileName && !sawDB:
			sawDB = true
			if err := writeFile(filepath.Join(dir, FileName), tr, h.Size, nil); err != nil {
				return err
			}
		case blobName.MatchString(h.Name) && sawDB:
			want, _ := hex.DecodeString(h.Name[len(blobDir)+1:])
			if err := writeFile(filepath.Join(dir, filepath.FromSlash(h.Name)), tr, h.Size, want); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: unexpected entry %q", ErrBadExport, h.Name)
		}
	}
	if !sawDB {
		return fmt.Errorf("%w: no %s in it", ErrBadExport, FileName)
	}
	return nil
}

func writeFile(path string, r io.Reader, size int64, wantSHA []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if err != nil || n != size {
		return fmt.Errorf("%w: %s is truncated", ErrBadExport, filepath.Base(path))
	}
	if wantSHA != nil && string(h.Sum(nil)) != string(wantSHA) {
		return fmt.Errorf("%w: blob %x does not match its hash", ErrBadExport, wantSHA)
	}
	return f.Sync()
}

// Check verifies the file's structure with bbolt's own consistency check (every page
// reachable once, keys in order) and the schema's buckets. Import runs it on what it
// unpacks; it reads the whole file.
func (s *Store) Check() error {
	return s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("%w: %v", ErrBadExport, err)
		}
		if err := hasBuckets(tx); err != nil {
			return fmt.Errorf("%w: %v", ErrBadExport, err)
		}
		return nil
	})
}
