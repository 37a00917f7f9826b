package main

import (
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startRendezvous builds and runs kith-rendezvous on loopback (STUN and TURN beside
// it) and returns its gRPC address.
func startRendezvous(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kith-rendezvous")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/kithnet/kith/rendezvous/cmd/kith-rendezvous").CombinedOutput(); err != nil {
		t.Fatalf("build kith-rendezvous: %v\n%s", err, out)
	}
	rdv, stun := freeTCP(t), freePort(t)
	cmd := exec.Command(bin, "--listen", rdv, "--stun", stun, "--turn-secret", "devices-secret", "--turn-allow-private", "--log-level", "warn")
	log := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return rdv
}

// TestDevicesRendezvous: Alice's devices A1 and A2 and her friend Bob, all through one
// real rendezvous, friends by ID alone. Both devices stay registered side by side for
// 60 s, neither log says "replaced", and Bob syncs Alice throughout; then A1 stops, A2
// posts, and Bob reaches A2 (an offer to Alice reaches her online device); A1 comes back
// and has A2's post.
func TestDevicesRendezvous(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute of two devices online")
	}
	rdv := startRendezvous(t)
	a1, alice := newHome(t, "alice")
	bob, bobID := newHome(t, "bob")
	a2 := filepath.Join(t.TempDir(), "a2")
	p1, p2 := freePort(t), freePort(t)
	A1 := startDaemon(t, a1, p1, "--ui", "", "--rendezvous", rdv, "--portmap=false")
	B := startDaemon(t, bob, "127.0.0.1:0", "--ui", "", "--rendezvous", rdv, "--portmap=false")
	kith(t, a1, "friend", "add", bobID, "--name", "bob")
	kith(t, bob, "friend", "add", alice, "--name", "alice")
	code, joined := addDevice(t, a1, "a2")
	kith(t, a2, "init", "--join", code, "--addr", p1)
	joined()
	A2 := startDaemon(t, a2, p2, "--ui", "", "--rendezvous", rdv, "--portmap=false")
	for _, h := range []string{a1, a2, bob} {
		eventually(t, 30*time.Second, h+" registered", func() bool {
			out, _, _ := kithErr(t, h, "status")
			return strings.Contains(out, "registered, seen as")
		})
	}
	kith(t, a1, "post", "from a1 through the rendezvous")
	eventually(t, 60*time.Second, "Bob gets a1's post", func() bool { return timelineHas(t, bob, "from a1 through the rendezvous") })

	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Second) {
		if _, errOut, rc := kithErr(t, bob, "sync", "alice"); rc != 0 {
			t.Fatalf("Bob could not sync Alice with both devices online: exit %d, %s", rc, errOut)
		}
	}
	for name, p := range map[string]*proc{"a1": A1, "a2": A2} {
		if strings.Contains(p.log.String(), "replaced") {
			t.Fatalf("%s's log says replaced:\n%s", name, p.log)
		}
	}
	for _, h := range []string{a1, a2} {
		if out, _, _ := kithErr(t, h, "status"); !strings.Contains(out, "registered, seen as") {
			t.Fatalf("%s no longer registered after 60 s:\n%s", h, out)
		}
	}

	A1.stop(t)
	kith(t, a2, "post", "from a2 while a1 is off")
	eventually(t, 90*time.Second, "Bob reaches a2 and gets its post", func() bool {
		kithErr(t, bob, "sync", "alice")
		return timelineHas(t, bob, "from a2 while a1 is off")
	})
	startDaemon(t, a1, p1, "--ui", "", "--rendezvous", rdv, "--portmap=false")
	eventually(t, 30*time.Second, "a1 back has a2's post", func() bool { return timelineHas(t, a1, "from a2 while a1 is off") })
	_ = B
}

// freeTCP returns a loopback TCP address nobody listens on right now.
func freeTCP(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestJoinThroughRendezvous: `kith init --join CODE --rendezvous` with no address: the
// new device offers, as a stranger, with the code's proof, and the device that made the
// code answers it (it answers no other stranger: it publishes no addresses).
func TestJoinThroughRendezvous(t *testing.T) {
	rdv := startRendezvous(t)
	a1, alice := newHome(t, "alice")
	startDaemon(t, a1, "127.0.0.1:0", "--ui", "", "--rendezvous", rdv, "--portmap=false")
	eventually(t, 30*time.Second, "a1 registered", func() bool {
		out, _, _ := kithErr(t, a1, "status")
		return strings.Contains(out, "registered, seen as")
	})
	kith(t, a1, "post", "before the join through the rendezvous")
	code, joined := addDevice(t, a1, "a2")
	a2 := filepath.Join(t.TempDir(), "a2")
	if id := kith(t, a2, "init", "--join", code, "--rendezvous", rdv); id != alice {
		t.Fatalf("joined as %q, want %s", id, alice)
	}
	if got := joined(); !strings.Contains(got, "device a2 joined") {
		t.Fatalf("device add said %q", got)
	}
	st := openStore(t, a2)
	self, err := st.Self()
	if err != nil || string(self.ID()) != alice {
		t.Fatalf("a2's person = %v, %v", self, err)
	}
	if n, err := st.CountPosts(self); err != nil || n != 1 {
		t.Fatalf("a2 holds %d posts (%v), want 1", n, err)
	}
	st.Close()
	// a2 keeps the address a1 answered at, and the two then sync as own devices.
	startDaemon(t, a2, "127.0.0.1:0", "--ui", "", "--rendezvous", rdv, "--portmap=false")
	kith(t, a2, "post", "from a2, joined through the rendezvous")
	eventually(t, 30*time.Second, "a1 gets a2's post", func() bool { return timelineHas(t, a1, "from a2, joined through the rendezvous") })
}
