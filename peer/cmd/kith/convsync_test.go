package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
)

// threadIDs reads a post's replies on home as text -> reply id, and its reactions.
func threadIDs(t *testing.T, home, postID string) (map[string]string, []string) {
	t.Helper()
	rs, emoji := readThread(t, home, postID)
	replies := map[string]string{}
	for _, r := range rs {
		replies[r.Text] = r.ID
	}
	return replies, emoji
}

// TestDevicesShareConversations (issue 16) runs real daemons in direct mode: Alice on
// A1 and a joined A2, her friend Bob. Bob's reply and reaction to Alice's post are
// handed to A1; A2 holds them within a few own-device polls; with A1 off, Bob syncs
// from A2 and still sees both. Alice removes the reply on A2; A1, restarted, loses it
// too and refuses Bob's next version of it.
func TestDevicesShareConversations(t *testing.T) {
	a1, alice := newHome(t, "alice")
	bob, bobID := newHome(t, "bob")
	a2 := filepath.Join(t.TempDir(), "a2")
	p1, p2 := freePort(t), freePort(t)
	A1 := startDaemon(t, a1, p1, "--ui", "")
	B := startDaemon(t, bob, "127.0.0.1:0", "--ui", "")
	kith(t, a1, "friend", "add", bobID, "--name", "bob", "--addr", B.addr)
	kith(t, bob, "friend", "add", alice, "--name", "alice", "--addr", p1)
	postID := strings.TrimSpace(kith(t, a1, "post", "alice asks: tea?"))

	code, joined := addDevice(t, a1, "a2")
	if id := kith(t, a2, "init", "--join", code, "--addr", p1); id != alice {
		t.Fatalf("joined as %q, want alice %s", id, alice)
	}
	joined()
	startDaemon(t, a2, p2, "--ui", "")

	kith(t, bob, "sync")
	if out := kith(t, bob, "reply", postID, "bob says yes"); strings.Contains(out, "waiting") {
		t.Fatalf("Bob's reply did not reach a1: %s", out)
	}
	if out := kith(t, bob, "react", postID, "🍵"); strings.Contains(out, "waiting") {
		t.Fatalf("Bob's reaction did not reach a1: %s", out)
	}
	eventually(t, 20*time.Second, "a2 holds Bob's reply and reaction hosted by a1", func() bool {
		replies, emoji := threadIDs(t, a2, postID)
		return replies["bob says yes"] != "" && len(emoji) == 1 && emoji[0] == "🍵"
	})

	A1.stop(t)
	kith(t, bob, "friend", "add", alice, "--addr", p2)
	kith(t, bob, "sync")
	replies, emoji := threadIDs(t, bob, postID)
	rid := replies["bob says yes"]
	if rid == "" || len(emoji) != 1 || emoji[0] != "🍵" {
		t.Fatalf("Bob, syncing from a2 alone: replies %v, reactions %v; want his reply and reaction", replies, emoji)
	}

	kith(t, a2, "reply", "rm", rid)
	if replies, _ := threadIDs(t, a2, postID); replies["bob says yes"] != "" {
		t.Fatal("a2 still shows the reply it removed")
	}
	A1 = startDaemon(t, a1, p1, "--ui", "")
	eventually(t, 20*time.Second, "a1, restarted, loses the reply removed on a2", func() bool {
		replies, emoji := threadIDs(t, a1, postID)
		return replies["bob says yes"] == "" && len(emoji) == 1
	})
	// The removal stays a refusal on a1: Bob's next version of the reply is refused.
	A1.stop(t)
	B.stop(t)
	a1st, bobst := openStore(t, a1), openStore(t, bob)
	bobKey, err := bobst.Key()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := post.ParseIDString(postID)
	if err != nil {
		t.Fatal(err)
	}
	rpid, err := post.ParseIDString(rid)
	if err != nil {
		t.Fatal(err)
	}
	env, r, err := post.SealReply(bobKey, post.ReplyDraft{ID: rpid, Version: 2, Now: time.Now(), PostAuthor: mustParseID(t, alice), PostID: pid, Text: "bob says yes, again"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a1st.HostReply(bobKey.Public(), env, r); !errors.Is(err, store.ErrRemoved) {
		t.Fatalf("a1 hosting a new version of the reply removed on a2: %v, want store.ErrRemoved", err)
	}
}
