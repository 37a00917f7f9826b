package store

import (
	"bytes"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"

	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
)

func TestBlobExt(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"report.pdf", ".pdf"},
		{"Holiday.JPG", ".jpg"},
		{"/home/a/clip.tar.gz", ".gz"},
		{"no-extension", ""},
		{"trailing.", ""},
		{".bashrc", ".bashrc"},
		{"evil.p\"df", ""},
		{"evil.pdf;x", ""},
		{"ünï.cødé", ""},
		{"long.abcdefghijklmnop", ""}, // 16 letters: longer than any type a person knows
		{"fits.abcdefghijklmno", ".abcdefghijklmno"},
	} {
		if got := BlobExt(tc.name); got != tc.want {
			t.Errorf("BlobExt(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestBlobExtension: the index keeps the extension a blob came with, from a local file
// or from a pulled attachment's name, keeps the first one, and still reads the size.
func TestBlobExtension(t *testing.T) {
	s, _ := initT(t)
	att, err := s.PutFile(bytes.NewReader([]byte("%PDF-1.7 a report")), "/tmp/Report.PDF")
	if err != nil {
		t.Fatal(err)
	}
	if ext, err := s.BlobExtension(att.Sha256); err != nil || ext != ".pdf" {
		t.Fatalf("BlobExtension of a PDF: %q %v, want .pdf", ext, err)
	}
	// The same bytes again under another name: the first extension stays.
	if _, err := s.PutFile(bytes.NewReader([]byte("%PDF-1.7 a report")), "copy.txt"); err != nil {
		t.Fatal(err)
	}
	if ext, _ := s.BlobExtension(att.Sha256); ext != ".pdf" {
		t.Fatalf("after a second copy the extension is %q, want .pdf", ext)
	}
	// A pulled attachment brings its file name.
	w, _ := s.NewBlob()
	w.Write([]byte("RIFF wave"))
	w2, _ := s.NewBlob()
	w2.Write([]byte("RIFF wave"))
	sum, err := w2.Commit(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bBlobs).Delete(sum) })
	if _, err := w.Commit(&postv1.Attachment{Sha256: sum, Size: 9, FileName: "clip.wav"}); err != nil {
		t.Fatal(err)
	}
	if ext, _ := s.BlobExtension(sum); ext != ".wav" {
		t.Fatalf("pulled attachment's extension %q, want .wav", ext)
	}
	plain, _ := s.PutBlob(bytes.NewReader([]byte("no name")))
	if ext, err := s.BlobExtension(plain.Sha256); err != nil || ext != "" {
		t.Fatalf("a blob with no name: %q %v", ext, err)
	}
	if _, err := s.BlobExtension(make([]byte, 32)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an unknown blob: %v, want ErrNotFound", err)
	}
	// The size reads as before: an own post may attach the blob.
	if err := s.db.View(func(tx *bolt.Tx) error {
		return checkBlobs(tx, []*postv1.Attachment{att, {Sha256: sum, Size: 9}})
	}); err != nil {
		t.Fatalf("checkBlobs on indexed blobs with extensions: %v", err)
	}
	if err := s.db.View(func(tx *bolt.Tx) error {
		return checkBlobs(tx, []*postv1.Attachment{{Sha256: att.Sha256, Size: att.Size + 1}})
	}); err == nil {
		t.Fatal("checkBlobs accepted a wrong size")
	}
}
