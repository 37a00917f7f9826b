package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOwnDevicesStaleAddress: two devices of Alice that never learned each other's
// current address (a2 joined through the rendezvous, then a1 restarted on another port,
// so the address a2 kept is stale, and a1 never heard from a2) still exchange posts:
// each dials the other through the rendezvous, an offer to that one device.
func TestOwnDevicesStaleAddress(t *testing.T) {
	rdv := startRendezvous(t)
	a1, _ := newHome(t, "alice")
	registered := func(h string) {
		t.Helper()
		eventually(t, 30*time.Second, h+" registered", func() bool {
			out, _, _ := kithErr(t, h, "status")
			return strings.Contains(out, "registered, seen as")
		})
	}
	A1 := startDaemon(t, a1, freePort(t), "--ui", "", "--rendezvous", rdv, "--portmap=false")
	registered(a1)
	code, joined := addDevice(t, a1, "a2")
	a2 := filepath.Join(t.TempDir(), "a2")
	kith(t, a2, "init", "--join", code, "--rendezvous", rdv)
	joined()
	A1.stop(t)
	A1 = startDaemon(t, a1, freePort(t), "--ui", "", "--rendezvous", rdv, "--portmap=false")
	A2 := startDaemon(t, a2, freePort(t), "--ui", "", "--rendezvous", rdv, "--portmap=false")
	registered(a1)
	registered(a2)
	kith(t, a2, "post", "from a2 at a new address")
	kith(t, a1, "post", "from a1 at a new address")
	eventually(t, 60*time.Second, "a1 has a2's post", func() bool { return timelineHas(t, a1, "from a2 at a new address") })
	eventually(t, 60*time.Second, "a2 has a1's post", func() bool { return timelineHas(t, a2, "from a1 at a new address") })
	// Whichever device dials first goes through the rendezvous (callee first: the kept
	// address is not tried while the rendezvous answers); the other then uses the path
	// that offer proved.
	if !strings.Contains(A1.log.String()+A2.log.String(), "connected to an own device through the rendezvous") {
		t.Fatalf("neither device reached the other through the rendezvous:\na1:\n%s\na2:\n%s", A1.log, A2.log)
	}
}
