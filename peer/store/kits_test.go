package store

import (
	"crypto/rand"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// TestMigrateFromSchema1 opens a store as schema 1 left it (no kits bucket) and checks
// that opening migrates it: the bucket appears, the schema says 2, data is untouched.
func TestMigrateFromSchema1(t *testing.T) {
	home := t.TempDir()
	st, err := Open(Config{Home: home, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := identity.Generate(rand.Reader)
	if err := st.Init(k, "me"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := bolt.Open(filepath.Join(home, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		tx.DeleteBucket(bKits)
		return tx.Bucket(bMeta).Put([]byte("schema"), u64(1))
	})
	db.Close()

	st, err = Open(Config{Home: home, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open a schema-1 store: %v", err)
	}
	defer st.Close()
	if got, err := st.Key(); err != nil || got.Public() != k.Public() {
		t.Fatalf("identity after migration: %v, %v", got, err)
	}
	var schema uint64
	st.db.View(func(tx *bolt.Tx) error {
		schema = getU64(tx.Bucket(bMeta).Get([]byte("schema")))
		if tx.Bucket(bKits) == nil {
			t.Error("no kits bucket after migration")
		}
		return nil
	})
	if schema != SchemaVersion {
		t.Fatalf("schema %d after migration, want %d", schema, SchemaVersion)
	}
}

func TestKitsKeepNewest(t *testing.T) {
	st, err := Open(Config{Home: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	owner, _ := identity.Generate(rand.Reader)
	kit := func(ms int64) *signedv1.Envelope {
		env, _ := signed.Seal(owner, identity.ContextRecoveryKit, &syncv1.RecoveryKit{Owner: owner.Public().Bytes(), CreatedUnixMs: ms})
		return env
	}
	if _, err := st.Kit(owner.Public()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Kit before any: %v, want ErrNotFound", err)
	}
	for _, tc := range []struct {
		ms   int64
		kept bool
	}{{2000, true}, {1000, false}, {2000, false}, {3000, true}} {
		kept, err := st.PutKit(owner.Public(), kit(tc.ms), time.UnixMilli(tc.ms))
		if err != nil || kept != tc.kept {
			t.Fatalf("PutKit(%d) = %v, %v; want kept=%v", tc.ms, kept, err, tc.kept)
		}
	}
	env, err := st.Kit(owner.Public())
	if err != nil {
		t.Fatal(err)
	}
	var rk syncv1.RecoveryKit
	if _, err := signed.Open(env, identity.ContextRecoveryKit, &rk); err != nil || rk.CreatedUnixMs != 3000 {
		t.Fatalf("held kit created %d, %v; want 3000", rk.CreatedUnixMs, err)
	}
}
