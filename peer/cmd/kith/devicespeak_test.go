package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// threadReply is one reply as `kith thread --json` shows it.
type threadReply struct {
	ID     string `json:"id"`
	Author string `json:"author"`
	Text   string `json:"text"`
}

// readThread reads a post's conversation on home: its replies and the reactions' emoji.
func readThread(t *testing.T, home, postID string) ([]threadReply, []string) {
	t.Helper()
	out, errOut, code := kithErr(t, home, "thread", postID, "--json")
	if code != 0 {
		t.Fatalf("kith thread on %s: exit %d, %s", home, code, errOut)
	}
	var th struct {
		Replies   []threadReply `json:"replies"`
		Reactions []struct {
			Emoji string `json:"emoji"`
		} `json:"reactions"`
	}
	if err := json.Unmarshal([]byte(out), &th); err != nil {
		t.Fatalf("kith thread --json: %v\n%s", err, out)
	}
	var emoji []string
	for _, r := range th.Reactions {
		emoji = append(emoji, r.Emoji)
	}
	return th.Replies, emoji
}

// threadOf reads a post's conversation on home: reply texts by author ID, and the
// reactions' emoji.
func threadOf(t *testing.T, home, postID string) (map[string]string, []string) {
	t.Helper()
	rs, emoji := readThread(t, home, postID)
	replies := map[string]string{}
	for _, r := range rs {
		replies[r.Text] = r.Author
	}
	return replies, emoji
}

// TestDeviceSpeaksInConversation (issue 16) runs real daemons in direct mode: Alice on
// A1 and a joined A2, her friend Bob, and Carol, Bob's friend but not Alice's. Alice
// replies and reacts to Bob's post from A2: Bob hosts both as Alice's, and Carol and A1
// read them from Bob. A2 sends Carol a friend request that Carol sees as Alice's (A1
// is off then, so A2 alone can have sent it). What
// needs the identity key itself (the key backup, recovery, the public profile) fails on
// A2 with an error that says where to run it. After `kith device rm a2` on A1, a reply
// A2 signs is refused by Bob, with a log line, and never joins his thread.
func TestDeviceSpeaksInConversation(t *testing.T) {
	a1, alice := newHome(t, "alice")
	bob, bobID := newHome(t, "bob")
	carol, carolID := newHome(t, "carol")
	a2 := filepath.Join(t.TempDir(), "a2")
	p1, p2 := freePort(t), freePort(t)
	A1 := startDaemon(t, a1, p1, "--ui", "")
	B := startDaemon(t, bob, "127.0.0.1:0", "--ui", "")
	C := startDaemon(t, carol, "127.0.0.1:0", "--ui", "")
	kith(t, a1, "friend", "add", bobID, "--name", "bob", "--addr", B.addr)
	kith(t, bob, "friend", "add", alice, "--name", "alice", "--addr", p1)
	kith(t, bob, "friend", "add", carolID, "--name", "carol", "--addr", C.addr)
	kith(t, carol, "friend", "add", bobID, "--name", "bob", "--addr", B.addr)
	postID := strings.TrimSpace(kith(t, bob, "post", "bob asks: who is there?"))

	code, joined := addDevice(t, a1, "a2")
	if id := kith(t, a2, "init", "--join", code, "--addr", p1); id != alice {
		t.Fatalf("joined as %q, want alice %s", id, alice)
	}
	joined()
	startDaemon(t, a2, p2, "--ui", "")
	kith(t, a2, "sync")
	if !timelineHas(t, a2, "bob asks") {
		t.Fatal("a2 lacks Bob's post after a sync")
	}

	// Replies and reactions from A2 are Alice's, hosted by Bob.
	if out := kith(t, a2, "reply", postID, "alice answers from a2"); strings.Contains(out, "waiting") {
		t.Fatalf("the reply from a2 did not reach Bob: %s", out)
	}
	if out := kith(t, a2, "react", postID, "👍"); strings.Contains(out, "waiting") {
		t.Fatalf("the reaction from a2 did not reach Bob: %s", out)
	}
	replies, emoji := threadOf(t, bob, postID)
	if replies["alice answers from a2"] != alice || len(emoji) != 1 || emoji[0] != "👍" {
		t.Fatalf("Bob's thread: replies %v, reactions %v; want a2's reply and reaction as Alice's (%s)", replies, emoji, alice)
	}
	for _, reader := range []string{carol, a1} {
		kith(t, reader, "sync")
		replies, emoji := threadOf(t, reader, postID)
		if replies["alice answers from a2"] != alice || len(emoji) != 1 {
			t.Fatalf("%s's thread after a sync: replies %v, reactions %v; want a2's reply and reaction as Alice's", filepath.Base(reader), replies, emoji)
		}
	}

	// A friend request from A2 reaches Carol as Alice's. A1 is off meanwhile: it would
	// send one of its own once own-device sync tells it about Carol.
	A1.stop(t)
	kith(t, a2, "friend", "add", carolID, "--name", "carol", "--addr", C.addr)
	kith(t, a2, "sync", carolID) // the first connection sends the request; Carol answers no stranger's sync
	eventually(t, 20*time.Second, "Carol sees Alice's friend request from a2", func() bool {
		out, _, rc := kithErr(t, carol, "friend", "requests")
		return rc == 0 && strings.Contains(out, alice)
	})

	// What needs the identity key itself fails on A2, saying where to run it.
	pass := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"key", "export", "--out", filepath.Join(t.TempDir(), "key.age"), "--passphrase-file", pass},
		{"profile", "--public-name", "on"},
		{"recover"},
	} {
		_, errOut, rc := kithErr(t, a2, args...)
		if rc == 0 || !strings.Contains(errOut, "does not hold the identity key") || !strings.Contains(errOut, "run it on the device that does") {
			t.Errorf("kith %s on a2: exit %d, %q; want a refusal naming the device that holds the identity", strings.Join(args, " "), rc, errOut)
		}
	}

	// Revoked: Bob learns it from A1 and refuses what A2 signs after it.
	startDaemon(t, a1, p1, "--ui", "")
	kith(t, a1, "device", "rm", "a2")
	kith(t, bob, "sync")
	out, _, _ := kithErr(t, a2, "reply", postID, "signed by a2 after its removal")
	if !strings.Contains(out, "waiting") {
		t.Fatalf("a reply of the removed a2: %q; want it left waiting (refused by Bob)", out)
	}
	if !strings.Contains(B.log.String(), "refused a revoked device") {
		t.Fatalf("Bob's log does not say it refused the revoked device:\n%s", B.log)
	}
	if replies, _ := threadOf(t, bob, postID); replies["signed by a2 after its removal"] != "" {
		t.Fatal("Bob's thread holds a reply a2 signed after its removal")
	}
}

// TestDeviceFriendRequestThroughRendezvous (issue 16): Alice's joined device A2, with A1
// off, adds Dave by ID alone; Dave's node answers no stranger, so A2's request goes to
// him sealed through a real rendezvous, signed by A2's key with its certificate, and
// Dave sees it as Alice's.
func TestDeviceFriendRequestThroughRendezvous(t *testing.T) {
	rdv := startRendezvous(t)
	a1, alice := newHome(t, "alice")
	dave, daveID := newHome(t, "dave")
	registered := func(home string) {
		t.Helper()
		eventually(t, 30*time.Second, filepath.Base(home)+" registered", func() bool {
			out, _, _ := kithErr(t, home, "status")
			return strings.Contains(out, "registered, seen as")
		})
	}
	A1 := startDaemon(t, a1, "127.0.0.1:0", "--ui", "", "--rendezvous", rdv, "--portmap=false")
	registered(a1)
	code, joined := addDevice(t, a1, "a2")
	a2 := filepath.Join(t.TempDir(), "a2")
	if id := kith(t, a2, "init", "--join", code, "--rendezvous", rdv); id != alice {
		t.Fatalf("joined as %q, want %s", id, alice)
	}
	joined()
	A1.stop(t)
	D := startDaemon(t, dave, "127.0.0.1:0", "--ui", "", "--rendezvous", rdv, "--portmap=false")
	startDaemon(t, a2, "127.0.0.1:0", "--ui", "", "--rendezvous", rdv, "--portmap=false")
	registered(dave)
	registered(a2)
	kith(t, a2, "friend", "add", daveID, "--name", "dave")
	out, _, rc := kithErr(t, a2, "sync", daveID)
	if rc == 0 || !strings.Contains(out, "your friend request went to them through the rendezvous") {
		t.Fatalf("a2's sync with Dave: exit %d, %q; want the request sent through the rendezvous", rc, out)
	}
	eventually(t, 30*time.Second, "Dave sees Alice's request from a2", func() bool {
		out, _, rc := kithErr(t, dave, "friend", "requests")
		return rc == 0 && strings.Contains(out, alice)
	})
	if !strings.Contains(D.log.String(), "took a friend request through the rendezvous") {
		t.Fatalf("Dave's log does not say the request came through the rendezvous:\n%s", D.log)
	}
}
