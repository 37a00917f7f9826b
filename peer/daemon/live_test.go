package daemon_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/store"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
)

// A following node pulls a friend's new post within a second, through Watch.
func TestWatchPullsWithinASecond(t *testing.T) {
	author, reader := newPeer(t, "author"), newPeer(t, "reader")
	befriend(t, author, reader)
	befriend(t, reader, author)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); reader.node.Follow(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })

	for i := range 3 {
		time.Sleep(200 * time.Millisecond) // let the watch settle, so this measures a live change
		start := time.Now()
		id := author.publish(t, "live", feed.Default())
		for {
			if ok, _, _ := reader.holds(t, author, id); ok {
				t.Logf("post %d arrived in %v", i, time.Since(start).Round(time.Millisecond))
				break
			}
			if time.Since(start) > time.Second {
				t.Fatalf("post %d did not arrive within a second", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// After a lost disk, a home with only the key gets its posts back from a friend.
func TestRecoverOwnPosts(t *testing.T) {
	author, friend := newPeer(t, "author"), newPeer(t, "friend")
	befriend(t, author, friend)
	befriend(t, friend, author)
	for _, a := range []feed.Audience{feed.Default(), {Public: true}, {People: nil, Groups: nil, Friends: true}} {
		author.publish(t, "keep me", a)
	}
	photo, err := author.st.PutBlob(strings.NewReader("a photo of the sea"))
	if err != nil {
		t.Fatal(err)
	}
	photo.MediaType, photo.FileName = "image/jpeg", "sea.jpg"
	if _, err := author.st.Publish(store.NewPost{Text: "the sea", Attachments: []*postv1.Attachment{photo}}); err != nil {
		t.Fatal(err)
	}
	hidden := author.publish(t, "only me", feed.Audience{Me: true})
	del := author.publish(t, "gone", feed.Default())
	if err := author.st.Delete(del); err != nil {
		t.Fatal(err)
	}
	friend.sync(t, author)

	// The same key in a fresh home.
	st, err := store.Open(store.Config{Home: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Init(author.key, "author again"); err != nil {
		t.Fatal(err)
	}
	restored := &peer{name: "restored", key: author.key, st: st}
	restored.node = startNode(t, st)
	befriend(t, restored, friend)
	f, _ := st.Friend(friend.pub())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec, err := restored.node.Recover(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if n := rec.Stored; n != 5 || restored.count(t, author) != 5 {
		t.Fatalf("recovered %d posts (holds %d), want 5 (4 posts and 1 tombstone)", rec.Stored, restored.count(t, author))
	}
	if ok, _ := st.HasBlob(photo.Sha256); !ok {
		t.Fatal("the photo did not come back with its post")
	}
	if ok, _, _ := restored.holds(t, author, hidden); ok {
		t.Fatal("recovered a post the friend never had")
	}
	if ok, v, deleted := restored.holds(t, author, del); !ok || v != 2 || !deleted {
		t.Fatal("the tombstone did not come back as a tombstone")
	}
	// A repeat brings nothing new.
	if rec, err := restored.node.Recover(ctx, f); err != nil || rec.Stored != 0 {
		t.Fatalf("repeated recovery: %d new, %v; want 0", rec.Stored, err)
	}
}

// Follow picks up a friend added while it runs, and a friend's new address.
func TestFollowSeesFriendListChanges(t *testing.T) {
	author, reader := newPeer(t, "author"), newPeer(t, "reader")
	befriend(t, author, reader)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); reader.node.Follow(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })

	// Known first at a wrong address, then at the right one.
	if err := reader.st.PutFriend(store.Friend{Key: author.pub(), Addr: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	id := author.publish(t, "hello", feed.Default())
	time.Sleep(300 * time.Millisecond)
	befriend(t, reader, author)
	deadline := time.Now().Add(3 * time.Second)
	for {
		if ok, _, _ := reader.holds(t, author, id); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Follow did not pick up the friend's corrected address")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
