package reach

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/shared/identity"
)

// relayOnlyDevice is a device of alice's whose agent never punches (PunchTimeout -1),
// as behind a NAT no punch crosses: only a relay reaches it or it reaches anyone.
func relayOnlyDevice(t *testing.T, servers []string, alice *identity.Key, name, id string, list *deviceList) ownDevice {
	t.Helper()
	return startOwnDevice(t, servers, alice, name, id, Config{OwnDevice: list.has, PunchTimeout: -1, RelayTimeout: 10 * time.Second})
}

// TestDialOwnDeviceRelayed: when no punch finds a path, own devices reach each other
// through a TURN relay, a device and the identity holder alike; the handshake through
// the relay must show exactly the device dialled; a device the callee does not list
// gets no relay either.
func TestDialOwnDeviceRelayed(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNAllowPrivate: true})
	servers := []string{rv.GRPC}
	alice := mustKey(t)
	lists := map[string]*deviceList{"first": listOf(), "laptop": listOf(), "stray": listOf()}
	first := relayOnlyDevice(t, servers, alice, "first", "", lists["first"])
	laptop := relayOnlyDevice(t, servers, alice, "laptop", "laptop01", lists["laptop"])
	stray := relayOnlyDevice(t, servers, alice, "stray", "stray001", lists["stray"])
	for _, name := range []string{"first", "laptop"} {
		lists[name].keys[first.as.Key], lists[name].keys[laptop.as.Key] = true, true
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	relayed := func(from, to ownDevice) {
		t.Helper()
		d := to.as
		d.Addr = staleAddr(t)
		var err error
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
			var c *Conn
			if c, err = from.agent.DialDevice(ctx, d); err == nil {
				if !c.Relayed() {
					t.Errorf("%s reached %s on a direct path with punching off", from.name, to.name)
				}
				c.Close()
				return
			}
		}
		t.Fatalf("%s dials own device %s through the relay: %v", from.name, to.name, err)
	}
	relayed(laptop, first) // the identity holder, at the identity's record
	relayed(first, laptop) // a device, by its certificate

	// The relayed handshake must show the device dialled: laptop's relay reaches first,
	// but asked for another device of alice's, it is refused.
	if _, err := stray.agent.DialDevice(ctx, laptop.as); err == nil {
		t.Fatal("a device laptop does not list reached it through the relay")
	}
	if laptop.agent.Relayed(stray.as.Key) || stray.agent.Relayed(laptop.as.Key) {
		t.Error("a relayed path was made between laptop and a device it does not list")
	}
	rec, err := laptop.agent.ownRecord(laptop.as)
	if err != nil {
		t.Fatal(err)
	}
	wrong := laptop.as // the RELAY offer goes to laptop, the handshake must show first's key
	wrong.Key = first.as.Key
	loopback := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:1")} // TURN permits by IP
	if _, err := first.agent.relayOwn(ctx, wrong, rec, loopback); !errors.Is(err, ErrOtherDevice) {
		t.Errorf("a relayed handshake showing another device of ours: %v, want ErrOtherDevice", err)
	}
}
