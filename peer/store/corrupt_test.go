package store

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A damaged store file gets a clear error, not a crash, for the damage bbolt can detect
// (its meta pages carry checksums) and for a file that lost a bucket. (bbolt trusts its
// data pages: arbitrary bytes written into them can still crash it; backups are
// authenticated by age, so an import never meets such bytes.)
func TestOpenDamagedFile(t *testing.T) {
	s, _ := initT(t)
	if _, err := s.Publish(NewPost{Text: "x"}); err != nil {
		t.Fatal(err)
	}
	home := s.HomeDir()
	s.Close()
	path := filepath.Join(home, FileName)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	open := func() error {
		st, err := Open(Config{Home: home, Logger: slog.New(slog.DiscardHandler)})
		if err == nil {
			st.Close()
		}
		return err
	}

	// Both meta pages scribbled over.
	bad := bytes.Clone(good)
	for i := 16; i < 2*os.Getpagesize() && i < len(bad); i += 7 {
		bad[i] ^= 0x5a
	}
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := open(); err == nil {
		t.Error("a file with damaged meta pages opened")
	}

	// A bucket gone.
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bPostSeq) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := open(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a file missing a bucket: %v, want ErrCorrupt", err)
	}
}
