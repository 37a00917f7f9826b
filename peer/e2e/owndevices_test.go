package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/natlab"
)

// TestReachOwnDevices (issue 16): Alice's two devices, each behind its own
// port-restricted NAT with an input firewall. a2 joins through the rendezvous; the
// address it kept for a1 is the one a1 answered the join from, which a1's router lets
// in only from the join's socket, not from a2's daemon. The devices still exchange
// posts both ways: each reaches the other through the rendezvous, an offer to that one
// device.
func TestReachOwnDevices(t *testing.T) {
	t.Parallel()
	lab := natlab.New(t, natlab.Config{
		Public: []string{"rv"},
		Homes:  []natlab.Home{{Name: "dv1", NAT: natlab.PortRestricted}, {Name: "dv2", NAT: natlab.PortRestricted}},
	})
	rv, _ := startRendezvous(t, lab, "rv", 7000, 3478)
	a1 := startLabPeer(t, lab, "dv1", rv)

	add := exec.Command(filepath.Join(binDir, "kith"), "--home", a1.home, "device", "add", "a2")
	stdout, err := add.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := add.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if add.ProcessState == nil {
			add.Process.Kill()
			add.Wait()
		}
	})
	lines := bufio.NewReader(stdout)
	code, err := lines.ReadString('\n')
	if err != nil {
		t.Fatalf("device add: %v", err)
	}
	home, err := os.MkdirTemp("", "kith-lab-dv2-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if out, err := lab.Host("dv2").Exec(ctx, filepath.Join(binDir, "kith"), "--home", home, "init", "--join", strings.TrimSpace(code), "--rendezvous", rv); err != nil {
		t.Fatalf("join through the rendezvous from behind a NAT: %v\n%s", err, out)
	}
	if err := add.Wait(); err != nil {
		t.Fatalf("device add after the join: %v", err)
	}
	a2 := &labPeer{name: "dv2", home: home, id: a1.id, node: lab.Host("dv2")}
	a2.start(t, rv)

	a2.post(t, "from a2 behind its NAT")
	a1.post(t, "from a1 behind its NAT")
	if !eventually(60*time.Second, func() bool { return a1.holds(a1, "from a2 behind its NAT") }) {
		t.Fatalf("a1 lacks a2's post after 60 s\na1:\n%s\na2:\n%s", a1.proc.Output(), a2.proc.Output())
	}
	if !eventually(60*time.Second, func() bool { return a2.holds(a2, "from a1 behind its NAT") }) {
		t.Fatalf("a2 lacks a1's post after 60 s\na1:\n%s\na2:\n%s", a1.proc.Output(), a2.proc.Output())
	}
	const line = "connected to an own device through the rendezvous"
	if !strings.Contains(a1.proc.Output()+a2.proc.Output(), line) {
		t.Fatalf("neither device says %q\na1:\n%s\na2:\n%s", line, a1.proc.Output(), a2.proc.Output())
	}
}
