package store

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	"github.com/kithnet/kith/shared/identity"
)

func newKey(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func openT(t *testing.T, home string) *Store {
	t.Helper()
	s, err := Open(Config{Home: home, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func initT(t *testing.T) (*Store, *identity.Key) {
	t.Helper()
	s, k := openT(t, t.TempDir()), newKey(t)
	if err := s.Init(k, "me"); err != nil {
		t.Fatal(err)
	}
	return s, k
}

func TestInitAndReopen(t *testing.T) {
	home := t.TempDir()
	s := openT(t, home)
	if _, err := s.Key(); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("Key of a new home: %v, want ErrNoIdentity", err)
	}
	k := newKey(t)
	if err := s.Init(k, "ann"); err != nil {
		t.Fatal(err)
	}
	if err := s.Init(newKey(t), "again"); !errors.Is(err, ErrHasIdentity) {
		t.Fatalf("second Init: %v, want ErrHasIdentity", err)
	}
	if _, err := Open(Config{Home: home}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open while open: %v, want ErrLocked", err)
	}
	s.Close()
	s2 := openT(t, home)
	got, err := s2.Key()
	if err != nil || got.Public() != k.Public() {
		t.Fatalf("reopened key %v, %v", got, err)
	}
}

func TestSchema(t *testing.T) {
	home := t.TempDir()
	s := openT(t, home)
	s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put([]byte("schema"), u64(SchemaVersion+1)) })
	s.Close()
	if _, err := Open(Config{Home: home}); !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Open of a newer schema: %v, want ErrNewerSchema", err)
	}
	// An older schema without a migration step is refused, not silently used.
	s3, err := bolt.Open(home+"/"+FileName, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	s3.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put([]byte("schema"), u64(0)) })
	s3.Close()
	if _, err := Open(Config{Home: home}); err == nil || !strings.Contains(err.Error(), "no migration from schema 0") {
		t.Fatalf("Open of schema 0: %v, want a missing migration error", err)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	s, _ := initT(t)
	friend := newKey(t)
	before, _ := s.LastSeq()
	bad := []struct {
		name string
		do   func() error
	}{
		{"friend with a bad address", func() error { return s.PutFriend(Friend{Key: friend.Public(), Addr: "nope"}) }},
		{"friend with a bad group", func() error { return s.PutFriend(Friend{Key: friend.Public(), Groups: []string{"a b"}}) }},
		{"post to an unknown group", func() error {
			_, err := s.Publish(NewPost{Text: "x", Audience: feed.Audience{Groups: []string{"ghosts"}}})
			return err
		}},
		{"post to a stranger", func() error {
			_, err := s.Publish(NewPost{Text: "x", Audience: feed.Audience{People: []identity.ID{friend.ID()}}})
			return err
		}},
		{"post too long", func() error {
			_, err := s.Publish(NewPost{Text: strings.Repeat("x", post.MaxText+1)})
			return err
		}},
		{"attachment not stored", func() error {
			_, err := s.Publish(NewPost{Text: "x", Attachments: []*postv1.Attachment{{Sha256: make([]byte, 32), Size: 1}}})
			return err
		}},
		{"edit of an unknown post", func() error { return s.Edit(post.ID{1}, "x") }},
		{"pull from a stranger", func() error { _, err := s.Apply(friend.Public(), Batch{Cursor: 5}); return err }},
	}
	for _, tc := range bad {
		if err := tc.do(); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if after, _ := s.LastSeq(); after != before {
		t.Errorf("bad input moved the changes log from %d to %d", before, after)
	}
	if fs, _ := s.Friends(); len(fs) != 0 {
		t.Errorf("bad input added friends: %v", fs)
	}
	if n, _ := s.CountPosts(friend.Public()); n != 0 {
		t.Error("bad input stored posts")
	}
}

func TestChangesLogKeepsLatestEntry(t *testing.T) {
	s, _ := initT(t)
	id, err := s.Publish(NewPost{Text: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	s.Edit(id, "v2")
	s.Edit(id, "v3")
	friend := newKey(t)
	s.PutFriend(Friend{Key: friend.Public()})
	pg, err := s.Changes(friend.Public(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(pg.Changes) != 1 || pg.Changes[0].Version != 3 || pg.Last != pg.Changes[0].Seq {
		t.Fatalf("changes %+v, want one entry at version 3", pg)
	}
}

func TestApplyIdempotentAndCursorMonotonic(t *testing.T) {
	s, _ := initT(t)
	fk := newKey(t)
	s.PutFriend(Friend{Key: fk.Public()})
	env, p, err := post.Seal(fk, post.Draft{Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	b := Batch{Posts: []Verified{{env, p}}, Cursor: 7}
	if n, err := s.Apply(fk.Public(), b); err != nil || n.Stored != 1 {
		t.Fatalf("first apply: %+v %v", n, err)
	}
	if n, err := s.Apply(fk.Public(), b); err != nil || n.Stored != 0 || n.Ignored != 1 {
		t.Fatalf("repeated apply: %+v %v", n, err)
	}
	s.Apply(fk.Public(), Batch{Cursor: 3})
	if c, _ := s.Cursor(fk.Public()); c != 7 {
		t.Fatalf("cursor %d after an older batch, want 7", c)
	}
}

func TestBlobs(t *testing.T) {
	s, _ := initT(t)
	data := bytes.Repeat([]byte("photo"), 100_000)
	att, err := s.PutBlob(bytes.NewReader(data))
	if err != nil || att.Size != uint64(len(data)) {
		t.Fatalf("PutBlob: %v %v", att, err)
	}
	f, size, err := s.OpenBlob(att.Sha256)
	if err != nil || size != uint64(len(data)) {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("blob content differs")
	}
	w, _ := s.NewBlob()
	w.Write([]byte("not the photo"))
	if _, err := w.Commit(att); !errors.Is(err, ErrBlobMismatch) {
		t.Fatalf("Commit of wrong content: %v, want ErrBlobMismatch", err)
	}
}

func TestPostsAfterPages(t *testing.T) {
	s, k := initT(t)
	nps := make([]NewPost, 250)
	for i := range nps {
		nps[i] = NewPost{Text: "p"}
	}
	if _, err := s.PublishMany(nps); err != nil {
		t.Fatal(err)
	}
	seen := map[post.ID]bool{}
	var after post.ID
	for {
		page, err := s.PostsAfter(k.Public(), after, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page {
			if seen[p.ID()] {
				t.Fatalf("post %s twice", p.ID())
			}
			seen[p.ID()] = true
			after = p.ID()
		}
		if len(page) < 100 {
			break
		}
	}
	if len(seen) != 250 {
		t.Fatalf("paged through %d posts, want 250", len(seen))
	}
	if page, _ := s.PostsAfter(newKey(t).Public(), post.ID{}, 10); len(page) != 0 {
		t.Fatal("another author's page is not empty")
	}
}

// A schema 1 file is migrated to schema 2: held posts' attachments get indexed, so their
// author may fetch them back.
func TestMigrateSchema1(t *testing.T) {
	home := t.TempDir()
	s := openT(t, home)
	s.Init(newKey(t), "me")
	fk := newKey(t)
	s.PutFriend(Friend{Key: fk.Public()})
	att, err := s.PutBlob(strings.NewReader("photo"))
	if err != nil {
		t.Fatal(err)
	}
	env, p, err := post.Seal(fk, post.Draft{Text: "with photo", Attachments: []*postv1.Attachment{att}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(fk.Public(), Batch{Posts: []Verified{{env, p}}, Cursor: 1}); err != nil {
		t.Fatal(err)
	}
	// Make it a schema 1 file, as an older kith wrote it.
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bHeld); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put([]byte("schema"), u64(1))
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := openT(t, home)
	var schema uint64
	s2.db.View(func(tx *bolt.Tx) error { schema = getU64(tx.Bucket(bMeta).Get([]byte("schema"))); return nil })
	if schema != SchemaVersion {
		t.Fatalf("schema %d after migration, want %d", schema, SchemaVersion)
	}
	if ok, err := s2.BlobVisible(fk.Public(), att.Sha256); !ok || err != nil {
		t.Fatalf("after migration the author may not fetch their own blob: %v", err)
	}
	if ok, _ := s2.BlobVisible(newKey(t).Public(), att.Sha256); ok {
		t.Fatal("after migration a stranger may fetch the blob")
	}
}

// TestExportImport restores an export into a fresh home: the same key, posts and blobs.
// A damaged stream is refused and leaves the home as it was.
func TestExportImport(t *testing.T) {
	s, k := initT(t)
	att, err := s.PutBlob(strings.NewReader("blob"))
	if err != nil {
		t.Fatal(err)
	}
	att.MediaType, att.FileName = "text/plain", "b.txt"
	id, err := s.Publish(NewPost{Text: "kept", Attachments: []*postv1.Attachment{att}})
	if err != nil {
		t.Fatal(err)
	}
	var exp bytes.Buffer
	if err := s.Export(&exp, nil); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	if err := Import(home, bytes.NewReader(exp.Bytes())); err != nil {
		t.Fatal(err)
	}
	c := openT(t, home)
	if got, err := c.Key(); err != nil || got.Public() != k.Public() {
		t.Fatalf("imported key: %v", err)
	}
	if _, err := c.Post(k.Public(), id); err != nil {
		t.Fatalf("import lacks the post: %v", err)
	}
	f, size, err := c.OpenBlob(att.Sha256)
	if err != nil || size != 4 {
		t.Fatalf("imported blob: %d bytes, %v", size, err)
	}
	f.Close()

	for name, damaged := range map[string][]byte{
		"truncated":     exp.Bytes()[:exp.Len()/2],
		"store damaged": bytes.Replace(exp.Bytes(), []byte("blobs"), []byte("bl0bs"), 1),
		"blob edited":   editLast(exp.Bytes(), "blob", "bl0b"),
		"not a tar":     []byte("hello"),
	} {
		home := t.TempDir()
		if err := Import(home, bytes.NewReader(damaged)); !errors.Is(err, ErrBadExport) {
			t.Errorf("%s: %v, want ErrBadExport", name, err)
		}
		if entries, _ := os.ReadDir(home); len(entries) != 0 {
			t.Errorf("%s: import left %d entries behind", name, len(entries))
		}
	}
}

// editLast replaces the last occurrence of old in b.
func editLast(b []byte, old, new string) []byte {
	i := bytes.LastIndex(b, []byte(old))
	c := bytes.Clone(b)
	copy(c[i:], new)
	return c
}
