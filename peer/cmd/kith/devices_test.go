package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/device"
)

// kithErr runs the binary and returns stdout, stderr and its exit code.
func kithErr(t *testing.T, home string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(kithBin, append([]string{"--home", home}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	code := 0
	if ee != nil {
		code = ee.ExitCode()
	}
	return strings.TrimSpace(stdout.String()), stderr.String(), code
}

// addDevice runs `kith device add name` on home in the background and returns the code
// it prints and a function that waits for it to report the join.
func addDevice(t *testing.T, home, name string) (string, func() string) {
	t.Helper()
	cmd, r, stderr := startDeviceAdd(t, home, name)
	code, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("device add: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(code), func() string {
		rest, _ := r.ReadString('\n')
		if err := cmd.Wait(); err != nil {
			t.Fatalf("device add: %v\n%s", err, stderr.String())
		}
		return rest
	}
}

// startDeviceAdd starts `kith device add` in home with args (the name, options) and
// returns it with its standard output (the join code comes first) and error output;
// it is killed when t ends if it still runs.
func startDeviceAdd(t *testing.T, home string, args ...string) (*exec.Cmd, *bufio.Reader, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(kithBin, append([]string{"--home", home, "device", "add"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &bytes.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, bufio.NewReader(out), stderr
}

// eventually polls cond every 200ms for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within %v", what, d)
}

func timelineHas(t *testing.T, home, text string) bool {
	t.Helper()
	out, _, code := kithErr(t, home, "timeline")
	return code == 0 && strings.Contains(out, text)
}

// TestDevicesJoinSyncRevoke runs real daemons in direct mode: Alice's first device A1,
// a second device A2 joined with `kith device add` / `kith init --join`, and her friend
// Bob. The bad join inputs are refused with their exit codes; posts made on either
// device reach the other and Bob (from either device); A1 restarted catches up with
// A2; `kith device rm a2` makes Bob refuse A2's handshake with a clear log line, and A2
// no longer receives Alice's friends-only posts.
func TestDevicesJoinSyncRevoke(t *testing.T) {
	a1, alice := newHome(t, "alice")
	bob, bobID := newHome(t, "bob")
	a2 := filepath.Join(t.TempDir(), "a2")
	p1, p2 := freePort(t), freePort(t)
	A1 := startDaemon(t, a1, p1, "--ui", "")
	B := startDaemon(t, bob, "127.0.0.1:0", "--ui", "")
	kith(t, a1, "friend", "add", bobID, "--name", "bob", "--addr", B.addr)
	kith(t, bob, "friend", "add", alice, "--name", "alice", "--addr", p1)
	kith(t, a1, "post", "written on a1 first")

	code, joined := addDevice(t, a1, "a2")
	if _, err := device.ParseCode(code); err != nil {
		t.Fatalf("device add printed %q: %v", code, err)
	}
	// Bad input first: each is refused and changes nothing.
	if _, errOut, rc := kithErr(t, a2, "init", "--join", "join-notacode"); rc != 2 || !strings.Contains(errOut, "not a join code") {
		t.Fatalf("malformed code: exit %d, %s", rc, errOut)
	}
	if _, errOut, rc := kithErr(t, bob, "init", "--join", code, "--addr", p1); rc != 1 || !strings.Contains(errOut, "already has an identity") {
		t.Fatalf("joining a home with an identity: exit %d, %s", rc, errOut)
	}
	wrong, err := device.NewCode(mustParseID(t, alice))
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other")
	if _, errOut, rc := kithErr(t, other, "init", "--join", wrong.String(), "--addr", p1); rc != 1 || !strings.Contains(errOut, "not known") {
		t.Fatalf("wrong code: exit %d, %s", rc, errOut)
	}
	if id := kith(t, a2, "init", "--join", code, "--addr", p1); id != alice {
		t.Fatalf("joined as %q, want alice %s", id, alice)
	}
	if got := joined(); !strings.Contains(got, "device a2 joined") {
		t.Fatalf("device add after the join said %q", got)
	}
	if _, errOut, rc := kithErr(t, other, "init", "--join", code, "--addr", p1); rc != 1 || !strings.Contains(errOut, "used already") {
		t.Fatalf("reused code: exit %d, %s", rc, errOut)
	}
	A2 := startDaemon(t, a2, p2, "--ui", "")
	if !timelineHas(t, a2, "written on a1 first") {
		t.Fatal("a2 lacks the post made on a1 before it joined")
	}

	// Posts made on a2 reach a1 and Bob (through a1).
	kith(t, a2, "post", "written on a2")
	eventually(t, 20*time.Second, "a1 gets a2's post", func() bool { return timelineHas(t, a1, "written on a2") })
	kith(t, bob, "sync")
	if !timelineHas(t, bob, "written on a2") {
		t.Fatal("Bob lacks a2's post after syncing with a1")
	}
	var ls struct {
		Devices []struct {
			Name        string `json:"name"`
			Fingerprint string `json:"fingerprint"`
			LastSeen    string `json:"last_seen"`
			Online      bool   `json:"online"`
			This        bool   `json:"this"`
		} `json:"devices"`
	}
	if err := json.Unmarshal([]byte(kith(t, a1, "device", "ls", "--json")), &ls); err != nil {
		t.Fatal(err)
	}
	if len(ls.Devices) != 2 || !ls.Devices[0].This || ls.Devices[1].Name != "a2" || ls.Devices[1].This {
		t.Fatalf("device ls on a1 = %+v", ls.Devices)
	}

	// A1 stops; Bob syncs from a2; a2 posts; A1 comes back and has it.
	A1.stop(t)
	kith(t, a2, "post", "written on a2 while a1 is off")
	kith(t, bob, "friend", "add", alice, "--addr", p2)
	kith(t, bob, "sync")
	for _, text := range []string{"written on a1 first", "written on a2 while a1 is off"} {
		if !timelineHas(t, bob, text) {
			t.Fatalf("Bob, syncing from a2 alone, lacks %q", text)
		}
	}
	A1 = startDaemon(t, a1, p1, "--ui", "")
	eventually(t, 20*time.Second, "a1 back catches up with a2", func() bool { return timelineHas(t, a1, "written on a2 while a1 is off") })

	// Removing: not the device you are on; a2 then gets nothing private, Bob refuses it.
	if _, errOut, rc := kithErr(t, a1, "device", "rm", "first"); rc != 1 || !strings.Contains(errOut, "device you are on") {
		t.Fatalf("removing the device you are on: exit %d, %s", rc, errOut)
	}
	kith(t, a1, "device", "rm", "a2")
	kith(t, bob, "friend", "add", alice, "--addr", p1)
	kith(t, bob, "sync") // Bob learns the revocation (GetDevices) from a1
	kith(t, a1, "post", "friends only, after a2 was removed")
	time.Sleep(8 * time.Second) // more than two own-device polls
	if timelineHas(t, a2, "after a2 was removed") {
		t.Fatal("the removed a2 received a friends-only post")
	}
	kith(t, a2, "post", "signed by a2 after its removal")
	kith(t, bob, "friend", "add", alice, "--addr", p2)
	if _, _, rc := kithErr(t, bob, "sync"); rc == 0 {
		t.Fatal("Bob synced from the removed a2")
	}
	if !strings.Contains(B.log.String(), "refused a revoked device") {
		t.Fatalf("Bob's log does not say it refused the revoked device:\n%s", B.log)
	}
	if timelineHas(t, bob, "signed by a2 after its removal") {
		t.Fatal("Bob holds a post a2 signed after its removal")
	}
	_ = A2
}

// TestDevicesEditApart: a1 and a2 edit the same post while apart (each with the other
// stopped), then meet: both end with the same text, the edit device.Newer picks (the
// signer with the larger key fingerprint), and the losing text is gone from both.
func TestDevicesEditApart(t *testing.T) {
	a1, _ := newHome(t, "alice")
	a2 := filepath.Join(t.TempDir(), "a2")
	p1, p2 := freePort(t), freePort(t)
	A1 := startDaemon(t, a1, p1, "--ui", "")
	id := kith(t, a1, "post", "the original")
	code, joined := addDevice(t, a1, "a2")
	kith(t, a2, "init", "--join", code, "--addr", p1)
	joined()
	fps := map[string]string{}
	for _, d := range deviceList(t, a1) {
		fps[d.Name] = d.Fingerprint
	}
	A2 := startDaemon(t, a2, p2, "--ui", "")
	kith(t, a2, "post", "a2 says hello") // a1 learns a2's address from its calls
	eventually(t, 20*time.Second, "a1 hears from a2", func() bool { return timelineHas(t, a1, "a2 says hello") })

	A2.stop(t)
	kith(t, a1, "edit", id, "edited on a1 while apart")
	A1.stop(t)
	A2 = startDaemon(t, a2, p2, "--ui", "")
	kith(t, a2, "edit", id, "edited on a2 while apart")
	startDaemon(t, a1, p1, "--ui", "")
	win, lose := "edited on a1 while apart", "edited on a2 while apart"
	if fps["a2"] > fps["first"] {
		win, lose = lose, win
	}
	for _, h := range []string{a1, a2} {
		eventually(t, 30*time.Second, h+" converges on "+win, func() bool {
			return timelineHas(t, h, win) && !timelineHas(t, h, lose)
		})
	}
}
