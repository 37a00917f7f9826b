package store

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	"github.com/kithnet/kith/shared/identity"
)

// TestBlobWriterChecks: a blob commits only with the hash and size it claims, a writer
// stops at exactly the attachment size limit, and only 32-byte names of stored blobs open.
func TestBlobWriterChecks(t *testing.T) {
	s, _ := initT(t)
	data := []byte("the photo's bytes")
	att, err := s.PutBlob(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	commit := func(content []byte, want *postv1.Attachment) error {
		t.Helper()
		w, err := s.NewBlob()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(content); err != nil {
			t.Fatal(err)
		}
		_, err = w.Commit(want)
		return err
	}
	if err := commit(data, att); err != nil {
		t.Errorf("Commit of the right bytes: %v", err)
	}
	if err := commit(data, &postv1.Attachment{Sha256: att.Sha256, Size: att.Size + 1}); !errors.Is(err, ErrBlobMismatch) {
		t.Errorf("Commit of the right hash, claimed one byte longer: %v, want ErrBlobMismatch", err)
	}
	other := []byte("the photo's bytez")
	if err := commit(other, att); !errors.Is(err, ErrBlobMismatch) {
		t.Errorf("Commit of other bytes of the same size: %v, want ErrBlobMismatch", err)
	}
	// No temporary file is left behind by a refused commit.
	entries, _ := os.ReadDir(filepath.Join(s.HomeDir(), blobDir))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("a refused blob left %s behind", e.Name())
		}
	}

	w, err := s.NewBlob()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	w.size = post.MaxAttachmentSize - 4
	if n, err := w.Write([]byte("1234")); err != nil || n != 4 {
		t.Errorf("a write up to exactly the limit: %d, %v", n, err)
	}
	if n, err := w.Write([]byte("5")); err == nil || n != 0 || w.Size() != post.MaxAttachmentSize {
		t.Errorf("a write past the limit: %d, %v (size %d)", n, err, w.Size())
	}

	for _, sha := range [][]byte{att.Sha256[:31], make([]byte, 32), nil} {
		if _, _, err := s.OpenBlob(sha); !errors.Is(err, ErrNotFound) {
			t.Errorf("OpenBlob(%x): %v, want ErrNotFound", sha, err)
		}
	}
	if ok, err := s.HasBlob(att.Sha256); !ok || err != nil {
		t.Errorf("HasBlob of a stored blob: %v, %v", ok, err)
	}
}

// TestExportImportEveryBlob: an export carries every blob, reports its progress up to
// the total, and restores byte for byte; a home that holds a store is not overwritten.
func TestExportImportEveryBlob(t *testing.T) {
	s, k := initT(t)
	blobs := map[string][]byte{}
	var atts []*postv1.Attachment
	for _, n := range []int{1, 1000, 300 << 10} {
		b := make([]byte, n)
		rand.Read(b)
		att, err := s.PutBlob(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		att.MediaType = "application/octet-stream"
		blobs[string(att.Sha256)] = b
		atts = append(atts, att)
	}
	if _, err := s.Publish(NewPost{Text: "three files", Attachments: atts}); err != nil {
		t.Fatal(err)
	}
	var exp bytes.Buffer
	var dones []uint64
	var total uint64
	if err := s.Export(&exp, func(done, tot uint64) { dones = append(dones, done); total = tot }); err != nil {
		t.Fatal(err)
	}
	if len(dones) != 1+len(blobs) || dones[len(dones)-1] != total || !slices.IsSorted(dones) {
		t.Errorf("progress %v of %d, want %d rising steps ending at the total", dones, total, 1+len(blobs))
	}
	home := t.TempDir()
	if err := Import(home, bytes.NewReader(exp.Bytes())); err != nil {
		t.Fatal(err)
	}
	c := openT(t, home)
	for sha, want := range blobs {
		f, size, err := c.OpenBlob([]byte(sha))
		if err != nil {
			t.Fatalf("imported blob %x: %v", sha[:4], err)
		}
		got, _ := io.ReadAll(f)
		f.Close()
		if size != uint64(len(want)) || !bytes.Equal(got, want) {
			t.Errorf("imported blob %x: %d bytes, not the %d exported", sha[:4], len(got), len(want))
		}
	}
	if n, err := c.CountPosts(k.Public()); err != nil || n != 1 {
		t.Errorf("imported posts: %d, %v", n, err)
	}
	c.Close()
	before, _ := os.ReadFile(filepath.Join(home, FileName))
	if err := Import(home, bytes.NewReader(exp.Bytes())); err == nil {
		t.Error("Import over a home that has a store succeeded")
	}
	if after, _ := os.ReadFile(filepath.Join(home, FileName)); !bytes.Equal(before, after) {
		t.Error("a refused Import changed the store file")
	}
}

// TestResolveAudience: the words of --to, one by one and combined; a word that names
// nothing, a stranger's ID or a name two friends share is refused.
func TestResolveAudience(t *testing.T) {
	s, _ := initT(t)
	ann, bob, bob2, stranger := newKey(t), newKey(t), newKey(t), newKey(t)
	for _, f := range []Friend{{Key: ann.Public(), Name: "ann", Groups: []string{"close"}}, {Key: bob.Public(), Name: "bob"}, {Key: bob2.Public(), Name: "bob"}} {
		if err := s.PutFriend(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddGroup("work"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		words []string
		want  feed.Audience
	}{
		{nil, feed.Default()},
		{[]string{"me"}, feed.Audience{Me: true}},
		{[]string{"friends"}, feed.Audience{Friends: true}},
		{[]string{"public"}, feed.Audience{Public: true}},
		{[]string{"work"}, feed.Audience{Groups: []string{"work"}}},
		{[]string{"ann"}, feed.Audience{People: []identity.ID{ann.ID()}}},
		{[]string{string(bob.ID())}, feed.Audience{People: []identity.ID{bob.ID()}}},
		{[]string{"me", "close", "public", "ann"}, feed.Audience{Me: true, Public: true, Groups: []string{"close"}, People: []identity.ID{ann.ID()}}},
	} {
		got, err := s.ResolveAudience(tc.words)
		if err != nil || got.String() != tc.want.String() || len(got.People) != len(tc.want.People) || (len(got.People) > 0 && got.People[0] != tc.want.People[0]) {
			t.Errorf("ResolveAudience(%q) = %+v, %v; want %+v", tc.words, got, err, tc.want)
		}
	}
	for _, words := range [][]string{{"bob"}, {string(stranger.ID())}, {"nobody"}, {"me", "nobody"}} {
		if _, err := s.ResolveAudience(words); !errors.Is(err, feed.ErrBadAudience) {
			t.Errorf("ResolveAudience(%q): %v, want ErrBadAudience", words, err)
		}
	}
}

// TestCheckFriendLimits: a friend's name, groups and address at and past their limits.
func TestCheckFriendLimits(t *testing.T) {
	k := newKey(t).Public()
	for _, tc := range []struct {
		f  Friend
		ok bool
	}{
		{Friend{Key: k, Name: strings.Repeat("n", 100)}, true},
		{Friend{Key: k, Name: strings.Repeat("n", 101)}, false},
		{Friend{Key: k, Name: "\xff"}, false},
		{Friend{Key: k, Groups: []string{strings.Repeat("g", 64)}}, true},
		{Friend{Key: k, Groups: []string{strings.Repeat("g", 65)}}, false},
		{Friend{Key: k, Groups: []string{""}}, false},
		{Friend{Key: k, Groups: []string{"ok", "a,b"}}, false},
		{Friend{Key: k, Groups: []string{"a:b"}}, false},
		{Friend{Key: k, Groups: []string{"\xff"}}, false},
		{Friend{Key: k, Addr: "host.example:4700"}, true},
		{Friend{Key: k, Addr: "host.example"}, false},
	} {
		if err := CheckFriend(tc.f); (err == nil) != tc.ok {
			t.Errorf("CheckFriend(name %d bytes, groups %q, addr %q): %v, want ok %v", len(tc.f.Name), tc.f.Groups, tc.f.Addr, err, tc.ok)
		}
	}
	s, _ := initT(t)
	if err := s.AddGroup("a b"); err == nil {
		t.Error("AddGroup of a name with a space succeeded")
	}
	if gs, _ := s.Groups(); len(gs) != 0 {
		t.Errorf("groups after a refused AddGroup: %q", gs)
	}
}

// TestFriendsAndViewers: how the store sees a key (itself, a friend with groups, a
// stranger), what removing a friend forgets, and the refusals.
func TestFriendsAndViewers(t *testing.T) {
	s, me := initT(t)
	ann, stranger := newKey(t), newKey(t)
	if err := s.PutFriend(Friend{Key: me.Public()}); err == nil {
		t.Error("PutFriend of the home's own key succeeded")
	}
	if err := s.PutFriend(Friend{Key: ann.Public(), Name: "ann", Groups: []string{"close", "work"}, Addr: "a.example:1"}); err != nil {
		t.Fatal(err)
	}
	if f, err := s.Friend(ann.Public()); err != nil || f.Name != "ann" || f.Addr != "a.example:1" || !slices.Equal(f.Groups, []string{"close", "work"}) || f.Key != ann.Public() {
		t.Errorf("Friend(ann) = %+v, %v", f, err)
	}
	if _, err := s.Friend(stranger.Public()); !errors.Is(err, ErrNotFriend) {
		t.Errorf("Friend(stranger): %v, want ErrNotFriend", err)
	}
	if gs, _ := s.Groups(); !slices.Equal(gs, []string{"close", "work"}) {
		t.Errorf("groups %q, want the friend's two", gs)
	}
	for _, tc := range []struct {
		k    identity.PublicKey
		want feed.Viewer
	}{
		{me.Public(), feed.Viewer{Key: me.Public(), Self: true}},
		{ann.Public(), feed.Viewer{Key: ann.Public(), Friend: true, Groups: []string{"close", "work"}}},
		{stranger.Public(), feed.Viewer{Key: stranger.Public()}},
	} {
		v, err := s.Viewer(tc.k)
		if err != nil || v.Key != tc.want.Key || v.Self != tc.want.Self || v.Friend != tc.want.Friend || !slices.Equal(v.Groups, tc.want.Groups) {
			t.Errorf("Viewer(%s) = %+v, %v; want %+v", tc.k.Short(), v, err, tc.want)
		}
	}
	if _, err := s.Apply(ann.Public(), Batch{Cursor: 9}); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveFriend(stranger.Public()); !errors.Is(err, ErrNotFriend) {
		t.Errorf("RemoveFriend(stranger): %v, want ErrNotFriend", err)
	}
	if err := s.RemoveFriend(ann.Public()); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Cursor(ann.Public()); c != 0 {
		t.Errorf("cursor %d kept after the friend was removed", c)
	}
	if v, _ := s.Viewer(ann.Public()); v.Friend {
		t.Error("a removed friend is still seen as a friend")
	}
}

// TestChangeOwnPosts: an edit re-signs the next version with the same id and creation
// time; a deleted post cannot change again; a refused audience changes nothing.
func TestChangeOwnPosts(t *testing.T) {
	s, me := initT(t)
	id, err := s.Publish(NewPost{Text: "first #one"})
	if err != nil {
		t.Fatal(err)
	}
	v1, _ := s.Post(me.Public(), id)
	if err := s.Edit(id, "second #two"); err != nil {
		t.Fatal(err)
	}
	v2, err := s.Post(me.Public(), id)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := post.OpenFrom(v2.Envelope, me.Public())
	if err != nil || pl.GetVersion() != 2 || pl.GetText() != "second #two" || !slices.Equal(pl.GetHashtags(), []string{"two"}) ||
		pl.GetCreatedUnixMs() != v1.Payload.GetCreatedUnixMs() || v2.Audience.String() != feed.Default().String() {
		t.Errorf("edited post: %v, %v (audience %v)", pl, err, v2.Audience)
	}
	seq, _ := s.LastSeq()
	if err := s.SetAudience(id, feed.Audience{Groups: []string{"nobody"}}); !errors.Is(err, feed.ErrBadAudience) {
		t.Errorf("SetAudience to an unknown group: %v, want ErrBadAudience", err)
	}
	if v, _ := s.Post(me.Public(), id); v.Payload.GetVersion() != 2 || v.Audience.String() != feed.Default().String() {
		t.Errorf("a refused audience change changed the post: version %d, audience %v", v.Payload.GetVersion(), v.Audience)
	}
	if after, _ := s.LastSeq(); after != seq {
		t.Error("a refused audience change moved the changes log")
	}
	if err := s.SetAudience(id, feed.Audience{Public: true}); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Post(me.Public(), id); v.Payload.GetVisibility() != postv1.Visibility_VISIBILITY_PUBLIC || !v.EverPublic {
		t.Errorf("made public: visibility %v, ever public %v", v.Payload.GetVisibility(), v.EverPublic)
	}
	if err := s.Delete(id); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Post(me.Public(), id); !v.Payload.GetDeleted() || v.Payload.GetText() != "" || v.Payload.GetVersion() != 4 {
		t.Errorf("deleted: %v", v.Payload)
	}
	if err := s.Edit(id, "back from the dead"); err == nil {
		t.Error("an edit of a deleted post succeeded")
	}
	// An attachment whose claimed size differs from the stored blob's is refused.
	att, err := s.PutBlob(strings.NewReader("four"))
	if err != nil {
		t.Fatal(err)
	}
	att.MediaType = "text/plain"
	att.Size++
	if _, err := s.Publish(NewPost{Text: "x", Attachments: []*postv1.Attachment{att}}); err == nil {
		t.Error("a post whose attachment claims the wrong size was published")
	}
}

// TestImportOddStreams: a stream with the store twice, a blob before the store or an
// entry of another name is refused and leaves nothing; a home that already has an empty
// blob directory gets the blobs moved in.
func TestImportOddStreams(t *testing.T) {
	s, _ := initT(t)
	att, err := s.PutBlob(strings.NewReader("blob bytes"))
	if err != nil {
		t.Fatal(err)
	}
	var exp bytes.Buffer
	if err := s.Export(&exp, nil); err != nil {
		t.Fatal(err)
	}
	entries := readTar(t, exp.Bytes())
	blobEntry := blobDir + "/" + hex.EncodeToString(att.Sha256)
	for name, order := range map[string][]string{
		"the store twice":       {FileName, FileName, blobEntry},
		"a blob before a store": {blobEntry, FileName},
		"no store":              {blobEntry},
		"another entry":         {FileName, "blobs/../x"},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, n := range order {
			body := entries[n]
			if body == nil {
				body = []byte("x")
			}
			tw.WriteHeader(&tar.Header{Name: n, Mode: 0o600, Size: int64(len(body))})
			tw.Write(body)
		}
		tw.Close()
		home := t.TempDir()
		if err := Import(home, &buf); !errors.Is(err, ErrBadExport) {
			t.Errorf("%s: %v, want ErrBadExport", name, err)
		}
		if left, _ := os.ReadDir(home); len(left) != 0 {
			t.Errorf("%s: left %d entries behind", name, len(left))
		}
	}
	home := t.TempDir()
	if err := os.Mkdir(filepath.Join(home, blobDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := Import(home, bytes.NewReader(exp.Bytes())); err != nil {
		t.Fatalf("Import into a home with an empty blob directory: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(home, blobDir, hex.EncodeToString(att.Sha256))); err != nil || string(got) != "blob bytes" {
		t.Errorf("moved blob: %q, %v", got, err)
	}
}

// readTar returns every entry of a tar stream by name.
func readTar(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = body
	}
}
