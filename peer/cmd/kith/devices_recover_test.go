package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kithPass runs the binary on home with KITH_PASSPHRASE set; it fails t on error.
func kithPass(t *testing.T, home, pass string, args ...string) string {
	t.Helper()
	cmd := exec.Command(kithBin, append([]string{"--home", home}, args...)...)
	cmd.Env = append(os.Environ(), "KITH_PASSPHRASE="+pass)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kith %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// lsDevice is one device as `kith device ls --json` prints it.
type lsDevice struct {
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"`
	This        bool   `json:"this"`
}

// deviceList returns `kith device ls --json` on home.
func deviceList(t *testing.T, home string) []lsDevice {
	t.Helper()
	var ls struct {
		Devices []lsDevice `json:"devices"`
	}
	if err := json.Unmarshal([]byte(kith(t, home, "device", "ls", "--json")), &ls); err != nil {
		t.Fatal(err)
	}
	return ls.Devices
}

// deviceNames returns `kith device ls --json` on home as name -> this.
func deviceNames(t *testing.T, home string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, d := range deviceList(t, home) {
		out[d.Name] = d.This
	}
	return out
}

// TestRecoveryCoversDevices (issue 16: "export, import and recovery cover all devices"):
// Alice's first device A1, holding the identity, adds A2; Bob keeps her recovery kit.
// A1's disk is lost. On a new machine A3 she restores the identity from `kith key
// export` and runs `kith recover` from Bob: A3 then lists A2 (the kit carries the
// devices), revokes it (Bob, told at his next sync, refuses A2 from then on with a
// clear log line), and adds a new device A4 that joins and holds her posts.
func TestRecoveryCoversDevices(t *testing.T) {
	const pass = "copper lantern drifts sideways"
	a1, alice := newHome(t, "alice")
	bob, bobID := newHome(t, "bob")
	a2, a3, a4 := filepath.Join(t.TempDir(), "a2"), filepath.Join(t.TempDir(), "a3"), filepath.Join(t.TempDir(), "a4")
	p1, p2, p3 := freePort(t), freePort(t), freePort(t)
	A1 := startDaemon(t, a1, p1, "--ui", "")
	B := startDaemon(t, bob, "127.0.0.1:0", "--ui", "")
	kith(t, a1, "friend", "add", bobID, "--name", "bob", "--addr", B.addr)
	kith(t, bob, "friend", "add", alice, "--name", "alice", "--addr", p1)
	kith(t, a1, "post", "before the disk was lost")

	code, joined := addDevice(t, a1, "a2")
	kith(t, a2, "init", "--join", code, "--addr", p1)
	joined()
	startDaemon(t, a2, p2, "--ui", "")
	keyFile := filepath.Join(t.TempDir(), "alice-key.age")
	kithPass(t, a1, pass, "key", "export", "--out", keyFile)
	// Bob holds a kit that lists a2 once A1 pushed it (A1 follows Bob).
	kith(t, a1, "sync")
	time.Sleep(2 * time.Second)
	kith(t, bob, "sync")

	// The disk is lost.
	A1.stop(t)
	if err := os.RemoveAll(a1); err != nil {
		t.Fatal(err)
	}
	if id := kithPass(t, a3, pass, "init", "--key", keyFile); !strings.Contains(id, alice) {
		t.Fatalf("init --key printed %q, want alice %s", id, alice)
	}
	startDaemon(t, a3, p3, "--ui", "")
	out := kith(t, a3, "recover", "--from", bobID, "--addr", B.addr)
	if !strings.Contains(out, "before the disk was lost") && !timelineHas(t, a3, "before the disk was lost") {
		t.Fatalf("recover did not bring the post back:\n%s", out)
	}
	if names := deviceNames(t, a3); len(names) < 2 || !containsName(names, "a2") {
		t.Fatalf("after recovery A3 lists %v, want a2 among them", names)
	}

	// The recovered identity revokes a2; Bob learns it at his next sync from A3.
	kith(t, a3, "device", "rm", "a2")
	kith(t, bob, "friend", "add", alice, "--addr", p3)
	kith(t, bob, "sync")
	kith(t, a2, "post", "signed by a2 after the recovered identity removed it")
	kith(t, bob, "friend", "add", alice, "--addr", p2)
	if _, _, rc := kithErr(t, bob, "sync"); rc == 0 {
		t.Fatal("Bob synced from a2 after the recovered identity revoked it")
	}
	if !strings.Contains(B.log.String(), "refused a revoked device") {
		t.Fatalf("Bob's log does not say it refused the revoked device:\n%s", B.log)
	}
	if timelineHas(t, bob, "signed by a2 after the recovered identity removed it") {
		t.Fatal("Bob holds a post a2 signed after its revocation")
	}

	// And adds a new device, which joins and holds the recovered posts.
	code, joined = addDevice(t, a3, "a4")
	if id := kith(t, a4, "init", "--join", code, "--addr", p3); id != alice {
		t.Fatalf("a4 joined as %q, want alice %s", id, alice)
	}
	joined()
	startDaemon(t, a4, "127.0.0.1:0", "--ui", "")
	if !timelineHas(t, a4, "before the disk was lost") {
		t.Fatal("a4, joined to the recovered identity, lacks the recovered post")
	}
}

// containsName reports whether a device list has a device whose name starts with name
// (a recovered device may be renamed "NAME (recovered)" when its name is taken).
func containsName(names map[string]bool, name string) bool {
	for n := range names {
		if n == name || strings.HasPrefix(n, name+" ") {
			return true
		}
	}
	return false
}
