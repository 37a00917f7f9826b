package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/store"
)

// TestJoinedDeviceKeyAtRest: `kith init --join CODE --passphrase-file FILE` keeps the
// new device's key encrypted; its daemon refuses to start without the passphrase or
// with a wrong one (the home unchanged, still locked), and with the right one it runs
// and its posts reach the first device.
func TestJoinedDeviceKeyAtRest(t *testing.T) {
	a1, _ := newHome(t, "alice")
	p1 := freePort(t)
	startDaemon(t, a1, p1, "--ui", "")
	dir := t.TempDir()
	pw, wrong := filepath.Join(dir, "pw"), filepath.Join(dir, "wrong")
	for f, text := range map[string]string{pw: "copper lantern drifts sideways\n", wrong: "not the passphrase\n"} {
		if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	code, joined := addDevice(t, a1, "a2")
	a2 := filepath.Join(t.TempDir(), "a2")
	if _, errOut, rc := kithErr(t, a2, "init", "--join", code, "--addr", p1, "--passphrase-file", pw); rc != 0 || !strings.Contains(errOut, "encrypted on this disk") {
		t.Fatalf("join with --passphrase-file: exit %d, %s", rc, errOut)
	}
	joined()
	locked := func(when string) {
		t.Helper()
		st := openStore(t, a2)
		defer st.Close()
		if enc, err := st.KeyEncrypted(); err != nil || !enc {
			t.Fatalf("%s: KeyEncrypted = %v, %v", when, enc, err)
		}
		if _, err := st.Signer(); !errors.Is(err, store.ErrKeyLocked) {
			t.Fatalf("%s: Signer = %v, want ErrKeyLocked", when, err)
		}
	}
	locked("after the join")

	p2 := freePort(t)
	for _, tc := range []struct {
		name, want string
		extra      []string
	}{
		{"no passphrase", "passphrase-file FILE", nil},
		{"a wrong passphrase", "wrong passphrase", []string{"--passphrase-file", wrong}},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		out, err := exec.CommandContext(ctx, kithBin, append([]string{"--home", a2, "daemon", "--listen", p2, "--ui", ""}, tc.extra...)...).CombinedOutput()
		cancel()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || !strings.Contains(string(out), tc.want) {
			t.Fatalf("daemon with %s: %v\n%s\nwant a refusal saying %q", tc.name, err, out, tc.want)
		}
		locked("after a daemon with " + tc.name)
	}

	startDaemon(t, a2, p2, "--ui", "", "--passphrase-file", pw)
	kith(t, a2, "post", "signed by a device key kept encrypted")
	eventually(t, 30*time.Second, "a1 gets the post of a2", func() bool { return timelineHas(t, a1, "signed by a device key kept encrypted") })
}
