package reach

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/discovery"
	"github.com/kithnet/kith/peer/nat"
	"github.com/kithnet/kith/peer/transport"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// TestDeviceString: a device is named by its name, or by its key's short form when it
// has none.
func TestDeviceString(t *testing.T) {
	k := mustKey(t).Public()
	if got, want := (Device{Key: k, Name: "laptop"}).String(), "own device laptop"; got != want {
		t.Errorf("a named device: %q, want %q", got, want)
	}
	if got, want := (Device{Key: k}).String(), "own device "+k.Short(); got != want {
		t.Errorf("a device with no name: %q, want %q", got, want)
	}
}

// reachKeyBook is a Book holding the person's reachability key (or failing to give it).
type reachKeyBook struct {
	stranger
	key []byte
	err error
}

func (b reachKeyBook) ReachKey() ([]byte, error) { return b.key, b.err }

// TestOwnCandidates: an own device's candidates are its public ones and those sealed
// under the person's reachability key; with no key, a failing one or another key, the
// public ones alone.
func TestOwnCandidates(t *testing.T) {
	key, other := discovery.NewReachKey(), discovery.NewReachKey()
	dev := mustKey(t).Public()
	const ts = 1_700_000_000_000
	sealed, err := discovery.SealReachability(key, dev, ts, []*rendezvousv1.Candidate{
		{Address: "10.0.0.7:4000", Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_HOST}})
	if err != nil {
		t.Fatal(err)
	}
	reg := &rendezvousv1.Registration{PublicKey: dev[:], TimestampUnixMs: ts, Reachability: sealed,
		PublicCandidates: []*rendezvousv1.Candidate{{Address: "192.0.2.1:5000", Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_SERVER_REFLEXIVE}}}
	tests := []struct {
		name string
		book reachKeyBook
		want []string
	}{
		{"our key", reachKeyBook{key: key}, []string{"192.0.2.1:5000", "10.0.0.7:4000"}},
		{"another key (rotated)", reachKeyBook{key: other}, []string{"192.0.2.1:5000"}},
		{"no key", reachKeyBook{}, []string{"192.0.2.1:5000"}},
		{"the key cannot be read", reachKeyBook{key: key, err: errors.New("disk on fire")}, []string{"192.0.2.1:5000"}},
	}
	for _, tt := range tests {
		a := &Agent{cfg: Config{Book: tt.book}, log: testLogger()}
		var got []string
		for _, c := range a.ownCandidates(reg) {
			got = append(got, c.GetAddress())
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// directDevice is an agent of person's in direct mode (no rendezvous) listening on
// loopback; cert is nil for the identity holder. It returns the agent and its address.
func directDevice(t *testing.T, key *identity.Key, cert *signedv1.Envelope) (*Agent, string) {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	tr, err := transport.New(transport.Config{Key: key, DeviceCertificate: cert, PacketConn: pc, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	acceptAndHold(t, tr)
	a, err := New(Config{Key: key, DeviceCertificate: cert, Transport: tr, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return a, pc.LocalAddr().String()
}

// TestOwnDeviceAtAddress: without a rendezvous, a device is reached at the address it
// was last reached at; an address that does not parse is named in the error; a path
// dialled is remembered with a round trip measured, or the one punching measured.
func TestOwnDeviceAtAddress(t *testing.T) {
	alice, laptopKey := mustKey(t), mustKey(t)
	cert, err := device.Issue(alice, laptopKey.Public(), []byte("laptop01"), time.Now().Add(-time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	first, firstAt := directDevice(t, alice, nil)
	laptop, _ := directDevice(t, laptopKey, cert)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	c, err := laptop.DialDevice(ctx, Device{Key: alice.Public(), Addr: firstAt, Name: "first"})
	if err != nil {
		t.Fatalf("the identity holder at its address: %v", err)
	}
	c.Close()
	if got := laptop.Remote(alice.Public()); got != firstAt {
		t.Errorf("the path kept: %q, want %q", got, firstAt)
	}

	if _, err := first.DialDevice(ctx, Device{Key: laptopKey.Public(), Certificate: cert, Addr: "no port here", Name: "laptop"}); err == nil ||
		!strings.Contains(err.Error(), "at no port here: ") || !strings.Contains(err.Error(), "missing port") {
		t.Errorf("an address that does not parse: %v, want it named with the reason", err)
	}

	// The round trip: measured by the dial when the path has none, kept when punching
	// measured one.
	at, err := net.ResolveUDPAddr("udp", firstAt)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		rtt  time.Duration
	}{{"measured by the dial", 0}, {"measured by punching", 7777 * time.Microsecond}} {
		laptop.forget(alice.Public(), &path{tr: laptop.cfg.Transport, addr: at, kind: Direct})
		before := time.Now()
		c, err := laptop.dialOwn(ctx, alice.Public(), &path{tr: laptop.cfg.Transport, addr: at, kind: Direct, rtt: tt.rtt})
		took := time.Since(before)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		c.Close()
		p, ok := laptop.bestPath(alice.Public())
		switch {
		case !ok:
			t.Errorf("%s: no path kept", tt.name)
		case tt.rtt == 0 && (p.rtt <= 0 || p.rtt > took/2):
			t.Errorf("%s: round trip %v, want one measured: above 0, at most half the %v the dial took", tt.name, p.rtt, took)
		case tt.rtt != 0 && p.rtt != tt.rtt:
			t.Errorf("%s: round trip %v, want %v", tt.name, p.rtt, tt.rtt)
		}
	}
}

// TestFindOwn: punching through the rendezvous gives a connection to the device (a
// QUIC dial that worked is no error); with punching off (PunchTimeout < 0) the device
// answers but nothing is punched.
func TestFindOwn(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{})
	alice := mustKey(t)
	list := listOf()
	laptop := newOwnDevice(t, rv.GRPC, alice, "laptop", "laptop01", list)
	desktop := newOwnDevice(t, rv.GRPC, alice, "desktop", "desktop1", list)
	offKey := mustKey(t)
	offCert, err := device.Issue(alice, offKey.Public(), []byte("nopunch1"), time.Now().Add(-time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	off := newNode(t, "nopunch", []string{rv.GRPC}, Config{Key: offKey, DeviceID: []byte("nopunch1"), DeviceCertificate: offCert,
		OwnDevice: list.has, PunchTimeout: -1})
	list.mu.Lock()
	for _, k := range []identity.PublicKey{laptop.as.Key, desktop.as.Key, offKey.Public()} {
		list.keys[k] = true
	}
	list.mu.Unlock()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	rec, err := laptop.agent.ownRecord(desktop.as)
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		c, err := laptop.agent.findOwn(ctx, desktop.as, rec)
		if err == nil && c != nil {
			c.Close()
			break
		}
		errs = append(errs, err)
		if time.Now().After(deadline) {
			t.Fatalf("laptop finds desktop through the rendezvous: conn %v, errors %v", c, errs)
		}
	}

	rec, err = off.agent.ownRecord(desktop.as)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		c, err := off.agent.findOwn(ctx, desktop.as, rec)
		if c != nil {
			c.Close()
			t.Fatal("a node with punching off punched a path to its own device")
		}
		if errors.Is(err, nat.ErrNoPath) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("punching off: %v, want the device's answer and nat.ErrNoPath", err)
		}
	}
}
