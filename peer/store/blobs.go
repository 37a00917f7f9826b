package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/peer/post"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
)

// Blob bytes live in files under home/blobs, named by their SHA-256, and the bbolt file
// indexes them. Keeping gigabytes out of bbolt keeps its memory map, and so the peer's
// resident memory, small: bbolt reads through mmap, so serving a 1 GiB value from it
// would make the whole value resident. A blob file is complete and fsynced before the
// index names it, so a crash leaves at worst an unnamed temporary file.
const blobDir = "blobs"

// ErrBlobMismatch means received bytes do not hash to, or are not the size of, the
// attachment they claim to be.
var ErrBlobMismatch = errors.New("blob content does not match its address")

// BlobWriter receives a blob's bytes in order and commits it once its hash checks out.
type BlobWriter struct {
	s    *Store
	f    *os.File
	h    hash.Hash
	size uint64
}

// NewBlob starts writing a blob.
func (s *Store) NewBlob() (*BlobWriter, error) {
	f, err := os.CreateTemp(filepath.Join(s.home, blobDir), ".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("new blob: %w", err)
	}
	return &BlobWriter{s: s, f: f, h: sha256.New()}, nil
}

// Write appends p.
func (w *BlobWriter) Write(p []byte) (int, error) {
	if w.size+uint64(len(p)) > post.MaxAttachmentSize {
		return 0, fmt.Errorf("blob: larger than %d bytes (1 GiB)", post.MaxAttachmentSize)
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.size += uint64(n)
	return n, err
}

// Size returns the bytes written so far.
func (w *BlobWriter) Size() uint64 { return w.size }

// Abort discards the blob.
func (w *BlobWriter) Abort() {
	w.f.Close()
	os.Remove(w.f.Name())
}

// Commit checks the blob against want (its SHA-256 and size, when want is not nil),
// makes it durable and indexes it, with the extension of want's file name. It returns
// the blob's SHA-256.
func (w *BlobWriter) Commit(want *postv1.Attachment) ([]byte, error) {
	return w.commit(want, want.GetFileName())
}

func (w *BlobWriter) commit(want *postv1.Attachment, name string) ([]byte, error) {
	sum := w.h.Sum(nil)
	if want != nil && (string(sum) != string(want.GetSha256()) || w.size != want.GetSize()) {
		w.Abort()
		return nil, fmt.Errorf("%w: got sha256 %x (%d bytes), want %x (%d bytes)", ErrBlobMismatch, sum[:8], w.size, want.GetSha256(), want.GetSize())
	}
	if err := w.f.Sync(); err != nil {
		w.Abort()
		return nil, fmt.Errorf("blob %x: %w", sum[:8], err)
	}
	if err := w.f.Close(); err != nil {
		os.Remove(w.f.Name())
		return nil, fmt.Errorf("blob %x: %w", sum[:8], err)
	}
	w.s.blobMu.Lock()
	defer w.s.blobMu.Unlock()
	if err := os.Rename(w.f.Name(), w.s.blobPath(sum)); err != nil {
		os.Remove(w.f.Name())
		return nil, fmt.Errorf("blob %x: %w", sum[:8], err)
	}
	err := w.s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bBlobs)
		if v := b.Get(sum); v != nil && len(v) > 8 {
			return nil // indexed already, with the extension it first came with
		}
		return b.Put(sum, append(u64(w.size), BlobExt(name)...))
	})
	if err != nil {
		return nil, fmt.Errorf("blob %x: %w", sum[:8], err)
	}
	return sum, nil
}

// PutBlob copies r into a new blob and returns its attachment (name and type unset).
func (s *Store) PutBlob(r io.Reader) (*postv1.Attachment, error) { return s.PutFile(r, "") }

// PutFile is PutBlob for the file named name: the index keeps its extension
// (BlobExtension), so the file goes out again under the type it came in with.
func (s *Store) PutFile(r io.Reader, name string) (*postv1.Attachment, error) {
	w, err := s.NewBlob()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 256<<10)
	if _, err := io.CopyBuffer(w, r, buf); err != nil {
		w.Abort()
		return nil, fmt.Errorf("put blob: %w", err)
	}
	size := w.Size()
	sum, err := w.commit(nil, name)
	if err != nil {
		return nil, err
	}
	return &postv1.Attachment{Sha256: sum, Size: size}, nil
}

// HasBlob reports whether the blob with this SHA-256 is stored.
func (s *Store) HasBlob(sha []byte) (bool, error) {
	ok := false
	err := s.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bBlobs).Get(sha) != nil
		return nil
	})
	return ok, err
}

// OpenBlob opens a stored blob for reading.
func (s *Store) OpenBlob(sha []byte) (*os.File, uint64, error) {
	ok, err := s.HasBlob(sha)
	if err != nil {
		return nil, 0, err
	}
	if !ok || len(sha) != sha256.Size {
		return nil, 0, fmt.Errorf("blob %x: %w", sha, ErrNotFound)
	}
	f, err := os.Open(s.blobPath(sha))
	if err != nil {
		return nil, 0, fmt.Errorf("blob %x: %w", sha, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("blob %x: %w", sha, err)
	}
	return f, uint64(st.Size()), nil
}

// BlobExtension returns the extension (".jpg", or "" when none) the blob with this
// SHA-256 was first stored with, so that a download names the file as its author did:
// a person's PDF comes back as a PDF, not as a bare hash.
func (s *Store) BlobExtension(sha []byte) (string, error) {
	ext := ""
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bBlobs).Get(sha)
		if v == nil {
			return fmt.Errorf("blob %x: %w", sha, ErrNotFound)
		}
		if len(v) > 8 {
			ext = string(v[8:])
		}
		return nil
	})
	return ext, err
}

// maxExt bounds an extension kept in the index; a longer one is no type a person knows.
const maxExt = 16

// BlobExt is the extension of name as the blob index keeps it: lower case, a dot and
// 1 to 15 letters or digits, or "" (no extension, or one made of anything else, so that
// nothing a sender chose reaches a header or a file name unchecked).
func BlobExt(name string) string {
	ext := strings.ToLower(filepath.Ext(filepath.Base(name)))
	if len(ext) < 2 || len(ext) > maxExt {
		return ""
	}
	for _, c := range ext[1:] {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return ""
		}
	}
	return ext
}

func (s *Store) blobPath(sha []byte) string { return BlobPath(s.home, sha) }

// BlobPath is where the blob with this SHA-256 lives in home, once stored. A committed
// blob never changes, so a reader outside the daemon ('kith save') may copy it while
// the daemon runs, checking the hash as it goes.
func BlobPath(home string, sha []byte) string {
	return filepath.Join(home, blobDir, hex.EncodeToString(sha))
}

// checkBlobs refuses an own post whose attachments are not stored with their sizes.
func checkBlobs(tx *bolt.Tx, atts []*postv1.Attachment) error {
	for _, a := range atts {
		v := tx.Bucket(bBlobs).Get(a.GetSha256())
		if v == nil {
			return fmt.Errorf("attachment %x: %w (store it with PutBlob first)", a.GetSha256(), ErrNotFound)
		}
		if blobSize(v) != a.GetSize() {
			return fmt.Errorf("attachment %x: size %d, stored blob has %d", a.GetSha256(), a.GetSize(), blobSize(v))
		}
	}
	return nil
}

// blobSize reads the size from a blob index value (size(8) || extension).
func blobSize(v []byte) uint64 {
	if len(v) < 8 {
		return 0
	}
	return getU64(v[:8])
}

// dropHeld removes the attachment index entries of the held post at key (author || id)
// and returns the hashes of what it attached; nothing when no post is held there.
func dropHeld(tx *bolt.Tx, key []byte) ([][]byte, error) {
	v := tx.Bucket(bPosts).Get(key)
	if v == nil {
		return nil, nil
	}
	st, err := decodeStored(v)
	if err != nil {
		return nil, fmt.Errorf("post %x: %w", key, err)
	}
	var shas [][]byte
	for _, a := range st.Payload.GetAttachments() {
		if err := tx.Bucket(bHeld).Delete(append(append([]byte(nil), a.GetSha256()...), key...)); err != nil {
			return nil, err
		}
		shas = append(shas, a.GetSha256())
	}
	return shas, nil
}

// unreferenced drops from the blob index every blob of shas that no post refers to any
// more (no own post in blobrefs, no held post in heldrefs, no reply in convoblobs) and appends it to orphans,
// whose files the caller removes once the transaction is committed.
func unreferenced(tx *bolt.Tx, orphans, shas [][]byte) ([][]byte, error) {
	for _, sha := range shas {
		if hasKeyPrefix(tx.Bucket(bBlobRefs), sha) || hasKeyPrefix(tx.Bucket(bHeld), sha) || hasKeyPrefix(tx.Bucket(bConvoBlobs), sha) {
			continue
		}
		if tx.Bucket(bBlobs).Get(sha) == nil {
			continue
		}
		if err := tx.Bucket(bBlobs).Delete(sha); err != nil {
			return orphans, err
		}
		orphans = append(orphans, sha)
	}
	return orphans, nil
}

func hasKeyPrefix(b *bolt.Bucket, p []byte) bool {
	k, _ := b.Cursor().Seek(p)
	return k != nil && hasPrefix(k, p)
}

// removeBlobFiles deletes the files of blobs no longer indexed. A crash before this
// leaves an unindexed file, which nothing serves.
func (s *Store) removeBlobFiles(shas [][]byte) {
	for _, sha := range shas {
		if err := os.Remove(s.blobPath(sha)); err != nil && !os.IsNotExist(err) {
			s.log.Warn("could not remove a blob no post refers to", "sha256", hex.EncodeToString(sha), "err", err)
		}
	}
}
