package main

import (
	"strings"
	"testing"
)

// TestSyncWho runs `kith sync` against real daemons in direct mode with each way of
// naming whom: every friend, a friend's name, a friend's ID (the sync starts before the
// friends list comes back, which only names the results), an ID that is no friend's and
// a name nobody has. Each result line names the friend; the last two fail with what to
// do, and exit 1.
func TestSyncWho(t *testing.T) {
	alice, aliceID := newHome(t, "alice")
	bob, _ := newHome(t, "bob")
	_, carolID := newHome(t, "carol")
	A := startDaemon(t, alice, "127.0.0.1:0", "--ui", "")
	startDaemon(t, bob, "127.0.0.1:0", "--ui", "")
	kith(t, bob, "friend", "add", aliceID, "--name", "alice", "--addr", A.addr)
	kith(t, alice, "friend", "add", kith(t, bob, "id"), "--name", "bob")
	kith(t, alice, "post", "hello bob")

	for _, who := range [][]string{nil, {"alice"}, {"ALICE"}, {aliceID}, {strings.ToUpper(aliceID)}} {
		out, errOut, code := kithErr(t, bob, append([]string{"sync"}, who...)...)
		if code != 0 || !strings.HasPrefix(out, "alice ("+aliceID[:8]) || !strings.Contains(out, "(direct)") {
			t.Fatalf("kith sync %v: exit %d, stdout %q, stderr %q; want alice's line, direct", who, code, out, errOut)
		}
	}
	if got := kith(t, bob, "timeline", "--from", "alice"); !strings.Contains(got, "hello bob") {
		t.Fatalf("bob's timeline after the syncs: %q", got)
	}

	for _, c := range []struct {
		who, want string
	}{
		{carolID, carolID + " is not one of your friends: add them with 'kith friend add " + carolID + "'"},
		{"carol", `no friend is called "carol" and it is not an ID`},
	} {
		out, errOut, code := kithErr(t, bob, "sync", c.who)
		if code != 1 || out != "" || !strings.Contains(errOut, c.want) {
			t.Fatalf("kith sync %s: exit %d, stdout %q, stderr %q; want exit 1 and %q", c.who, code, out, errOut, c.want)
		}
	}
}
