package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// friendGroups returns home's friends as name -> groups (`kith friend ls --json`).
func friendGroups(t *testing.T, home string) map[string][]string {
	t.Helper()
	var fs []struct {
		Name   string   `json:"name"`
		Groups []string `json:"groups"`
	}
	if err := json.Unmarshal([]byte(kith(t, home, "friend", "ls", "--json")), &fs); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, f := range fs {
		out[f.Name] = f.Groups
	}
	return out
}

// TestDevicesRemovalsReachEveryDevice runs real daemons in direct mode: Alice on A1 and
// A2, her friend Bob in her group family. Bob first gets Alice's family and friends-only
// posts from A2 (the path works). `kith group rm family bob` on A2 reaches A1, and A1
// then serves Bob the new audience: the family post is revoked, the friends-only one
// stays. `kith friend rm bob` on A1 reaches A2: A2 no longer lists Bob, Bob gets no new
// friends-only post from A2 (neither one written there nor one A1 wrote), and A2's
// older list, pulled by A1 many times since, does not bring Bob back on A1.
func TestDevicesRemovalsReachEveryDevice(t *testing.T) {
	a1, alice := newHome(t, "alice")
	bob, bobID := newHome(t, "bob")
	a2 := filepath.Join(t.TempDir(), "a2")
	p1, p2 := freePort(t), freePort(t)
	startDaemon(t, a1, p1, "--ui", "")
	B := startDaemon(t, bob, "127.0.0.1:0", "--ui", "")
	kith(t, a1, "friend", "add", bobID, "--name", "bob", "--addr", B.addr)
	kith(t, a1, "group", "add", "--yes", "family", "bob")
	kith(t, a1, "post", "--to", "family", "for family, before")
	kith(t, a1, "post", "for friends, before")

	code, joined := addDevice(t, a1, "a2")
	kith(t, a2, "init", "--join", code, "--addr", p1)
	joined()
	startDaemon(t, a2, p2, "--ui", "")
	kith(t, a2, "post", "--to", "me", "a2 says hello") // a1 learns a2's address from its calls
	eventually(t, 20*time.Second, "a1 hears from a2", func() bool { return timelineHas(t, a1, "a2 says hello") })
	if g := friendGroups(t, a2); !slices.Equal(g["bob"], []string{"family"}) {
		t.Fatalf("a2's friends after the join: %v; want bob in family", g)
	}

	// Bob, syncing from A2, gets both posts: the path works before anything is removed.
	kith(t, bob, "friend", "add", alice, "--name", "alice", "--addr", p2)
	kith(t, bob, "sync")
	for _, text := range []string{"for family, before", "for friends, before"} {
		if !timelineHas(t, bob, text) {
			t.Fatalf("Bob, a friend in family, lacks %q from a2", text)
		}
	}

	// A group changed on A2 reaches A1, and A1 serves Bob the new audience.
	kith(t, a2, "group", "rm", "family", "bob")
	eventually(t, 20*time.Second, "a1 takes bob out of family", func() bool {
		g, ok := friendGroups(t, a1)["bob"]
		return ok && len(g) == 0
	})
	kith(t, bob, "friend", "add", alice, "--addr", p1)
	kith(t, bob, "sync")
	if timelineHas(t, bob, "for family, before") {
		t.Fatal("Bob, out of family on a2, still holds the family post after syncing from a1")
	}
	if !timelineHas(t, bob, "for friends, before") {
		t.Fatal("Bob lost the friends-only post while still a friend")
	}

	// A friend removed on A1 is removed on A2, with a removal's effects there.
	kith(t, a1, "friend", "rm", "bob")
	eventually(t, 20*time.Second, "a2 drops bob", func() bool {
		_, ok := friendGroups(t, a2)["bob"]
		return !ok
	})
	kith(t, a1, "post", "for friends, written on a1 after bob's removal")
	kith(t, a2, "post", "for friends, written on a2 after bob's removal")
	eventually(t, 20*time.Second, "a2 gets a1's post", func() bool { return timelineHas(t, a2, "written on a1 after bob's removal") })
	kith(t, bob, "friend", "add", alice, "--addr", p2)
	kithErr(t, bob, "sync") // Bob is a stranger to Alice now: whatever the exit code, he must get nothing
	for _, text := range []string{"after bob's removal", "for friends, before"} {
		if timelineHas(t, bob, text) {
			t.Fatalf("Bob, removed on a1, holds %q after syncing from a2", text)
		}
	}
	time.Sleep(8 * time.Second) // more than two own-device polls each way
	if _, ok := friendGroups(t, a1)["bob"]; ok {
		t.Fatal("a2's older list brought bob back on a1")
	}
	if _, ok := friendGroups(t, a2)["bob"]; ok {
		t.Fatal("bob came back on a2")
	}
	if strings.Contains(kith(t, a1, "group", "ls"), "bob") {
		t.Fatalf("a1's groups still name bob:\n%s", kith(t, a1, "group", "ls"))
	}
}
