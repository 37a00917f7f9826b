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
// port-restricted NAT, routers with an input firewall and routers without one (plain
// MASQUERADE, where a stray packet to the kept address leaves a conntrack entry). a2
// joins through the rendezvous; the address it kept for a1 is the one a1 answered the
// join from, which a1's router lets in only from the join's socket, not from a2's
// daemon. The devices still exchange posts both ways: each reaches the other through
// the rendezvous, an offer to that one device, on a direct path.
func TestReachOwnDevices(t *testing.T) {
	t.Parallel()
	lab := natlab.New(t, natlab.Config{
		Public: []string{"rv"},
		Homes: []natlab.Home{{Name: "dv1", NAT: natlab.PortRestricted}, {Name: "dv2", NAT: natlab.PortRestricted},
			{Name: "do1", NAT: natlab.PortRestricted, NoInputFirewall: true}, {Name: "do2", NAT: natlab.PortRestricted, NoInputFirewall: true}},
	})
	rv, _ := startRendezvous(t, lab, "rv", 7000, 3478)
	for _, tc := range []struct{ name, h1, h2 string }{
		{"firewalled-routers", "dv1", "dv2"},
		{"open-routers", "do1", "do2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ownDevicesReach(t, lab, rv, tc.h1, tc.h2)
		})
	}
}

// ownDevicesReach is TestReachOwnDevices between homes h1 and h2 of lab.
func ownDevicesReach(t *testing.T, lab *natlab.Lab, rv, h1, h2 string) {
	a1 := startLabPeer(t, lab, h1, rv)

	code, add := startDeviceAdd(t, a1.home, "a2")
	home, err := os.MkdirTemp("", "kith-lab-"+h2+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if out, err := lab.Host(h2).Exec(ctx, filepath.Join(binDir, "kith"), "--home", home, "init", "--join", code, "--rendezvous", rv); err != nil {
		t.Fatalf("join through the rendezvous from behind a NAT: %v\n%s", err, out)
	}
	if err := add.Wait(); err != nil {
		t.Fatalf("device add after the join: %v", err)
	}
	a2 := &labPeer{name: h2, home: home, id: a1.id, node: lab.Host(h2)}
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
	if strings.Contains(a1.proc.Output()+a2.proc.Output(), "path=relay") {
		t.Errorf("two port-restricted NATs, and an own device went through the relay\na1:\n%s\na2:\n%s", a1.proc.Output(), a2.proc.Output())
	}
}

// TestReachOwnDevicesRelayed (issue 16): Alice's two devices behind symmetric NATs, no
// port mapping: no punch finds a path between them, so they reach each other through
// a TURN relay (an offer to that one device, a RELAY offer routed to it alone). The
// devices were joined beforehand on this host's loopback, so the addresses each keeps
// for the other are stale in the lab.
func TestReachOwnDevicesRelayed(t *testing.T) {
	t.Parallel()
	homes := [2]string{}
	for i := range homes {
		h, err := os.MkdirTemp("", "kith-lab-sym-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(h) })
		homes[i] = h
	}
	if _, err := kithCLI("--home", homes[0], "init", "--name", "alice"); err != nil {
		t.Fatal(err)
	}
	id, err := kithCLI("--home", homes[0], "id")
	if err != nil {
		t.Fatal(err)
	}
	joinOnLoopback(t, homes[0], homes[1], "a2")

	lab := natlab.New(t, natlab.Config{
		Public: []string{"rv"},
		Homes:  []natlab.Home{{Name: "sy1", NAT: natlab.Symmetric}, {Name: "sy2", NAT: natlab.Symmetric}},
	})
	rv, _ := startRendezvous(t, lab, "rv", 7000, 3478)
	a1 := &labPeer{name: "sy1", home: homes[0], id: id, node: lab.Host("sy1")}
	a2 := &labPeer{name: "sy2", home: homes[1], id: id, node: lab.Host("sy2")}
	a1.start(t, rv)
	a2.start(t, rv)

	a2.post(t, "from a2 behind a symmetric NAT")
	a1.post(t, "from a1 behind a symmetric NAT")
	if !eventually(90*time.Second, func() bool { return a1.holds(a1, "from a2 behind a symmetric NAT") }) {
		t.Fatalf("a1 lacks a2's post after 90 s\na1:\n%s\na2:\n%s", a1.proc.Output(), a2.proc.Output())
	}
	if !eventually(90*time.Second, func() bool { return a2.holds(a2, "from a1 behind a symmetric NAT") }) {
		t.Fatalf("a2 lacks a1's post after 90 s\na1:\n%s\na2:\n%s", a1.proc.Output(), a2.proc.Output())
	}
	const line = "connected to an own device through the rendezvous"
	out := a1.proc.Output() + a2.proc.Output()
	if !strings.Contains(out, line) || !strings.Contains(out, "path=relay ") {
		t.Fatalf("neither device says %q over a relayed path\na1:\n%s\na2:\n%s", line, a1.proc.Output(), a2.proc.Output())
	}
}

// joinOnLoopback makes home2 a device named name of home1's identity: home1's daemon
// runs on this host's loopback while `kith device add` and `kith init --join --addr`
// run, then stops.
func joinOnLoopback(t *testing.T, home1, home2, name string) {
	t.Helper()
	kith := filepath.Join(binDir, "kith")
	d := exec.Command(kith, "--home", home1, "daemon", "--listen", "127.0.0.1:0", "--ui", "")
	stderr, err := d.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { d.Process.Signal(os.Interrupt); d.Wait() }()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if line := sc.Text(); strings.Contains(line, "kith daemon ready") {
				if _, rest, ok := strings.Cut(line, " listen="); ok {
					select {
					case ready <- strings.Fields(rest)[0]:
					default:
					}
				}
			}
		}
	}()
	var addr string
	select {
	case addr = <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("the loopback daemon did not say it is ready within 20 s")
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(home1, "kith.sock")); err == nil {
			break
		}
	}
	code, add := startDeviceAdd(t, home1, name)
	if out, err := kithCLI("--home", home2, "init", "--join", code, "--addr", addr); err != nil {
		t.Fatalf("join on loopback: %v\n%s", err, out)
	}
	if err := add.Wait(); err != nil {
		t.Fatalf("device add after the join: %v", err)
	}
}

// startDeviceAdd starts `kith device add name` in home and returns the join code it
// printed and the running command (the caller waits for it after the join); it is
// killed when t ends if it still runs.
func startDeviceAdd(t *testing.T, home, name string) (string, *exec.Cmd) {
	t.Helper()
	add := exec.Command(filepath.Join(binDir, "kith"), "--home", home, "device", "add", name)
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
	code, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("device add: %v", err)
	}
	return strings.TrimSpace(code), add
}
