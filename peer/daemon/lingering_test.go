package daemon_test

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/store"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	"github.com/kithnet/kith/shared/identity"
)

// A post revoked from a friend takes its attachment off the friend's disk, unless
// another post the friend holds still attaches the same bytes.
func TestRevokedAttachmentLeavesFriendsDisk(t *testing.T) {
	author, inside, _, _ := matrixPeers(t)
	blobFile := func(sha []byte) string { return filepath.Join(inside.st.HomeDir(), "blobs", hex.EncodeToString(sha)) }
	put := func(text string) *postv1.Attachment {
		att, err := author.st.PutBlob(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		return att
	}
	only, shared := put("a photo for inside alone"), put("a photo in two posts")
	forInside := feed.Audience{People: []identity.ID{inside.key.ID()}}
	publish := func(text string, atts ...*postv1.Attachment) {
		t.Helper()
		if _, err := author.st.Publish(store.NewPost{Text: text, Attachments: atts, Audience: forInside}); err != nil {
			t.Fatal(err)
		}
	}
	publish("one", only, shared)
	publish("two", shared)
	inside.sync(t, author)
	for _, a := range []*postv1.Attachment{only, shared} {
		if _, err := os.Stat(blobFile(a.Sha256)); err != nil {
			t.Fatalf("inside lacks a photo before the revocation: %v", err)
		}
	}
	var first, second [16]byte
	author.st.Posts(&[]identity.PublicKey{author.pub()}[0], func(p store.Stored) bool {
		if p.Payload.GetText() == "one" {
			copy(first[:], p.Payload.GetId())
		} else {
			copy(second[:], p.Payload.GetId())
		}
		return true
	})
	if err := author.st.SetAudience(first, feed.Audience{Me: true}); err != nil {
		t.Fatal(err)
	}
	if res := inside.sync(t, author); res.Dropped != 1 {
		t.Fatalf("dropped %d posts, want the revoked one", res.Dropped)
	}
	if ok, _ := inside.st.HasBlob(only.Sha256); ok {
		t.Error("the revoked post's photo is still indexed on the friend's disk")
	}
	if _, err := os.Stat(blobFile(only.Sha256)); !os.IsNotExist(err) {
		t.Errorf("the revoked post's photo file is still on the friend's disk (%v)", err)
	}
	if ok, _ := inside.st.HasBlob(shared.Sha256); !ok {
		t.Error("a photo another held post attaches was removed")
	}
	if _, err := os.Stat(blobFile(shared.Sha256)); err != nil {
		t.Errorf("a photo another held post attaches lost its file: %v", err)
	}
	// Revoking the second post too takes the last reference.
	if err := author.st.SetAudience(second, feed.Audience{Me: true}); err != nil {
		t.Fatal(err)
	}
	inside.sync(t, author)
	if _, err := os.Stat(blobFile(shared.Sha256)); !os.IsNotExist(err) {
		t.Errorf("the photo of two revoked posts is still on the friend's disk (%v)", err)
	}
}
