package reach

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/discovery"
	"github.com/kithnet/kith/peer/store"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// deviceList is a person's device list as one node holds it: the keys it answers.
type deviceList struct {
	mu   sync.Mutex
	keys map[identity.PublicKey]bool
}

func (l *deviceList) has(k identity.PublicKey) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.keys[k]
}

func listOf(ks ...*identity.Key) *deviceList {
	l := &deviceList{keys: map[identity.PublicKey]bool{}}
	for _, k := range ks {
		l.keys[k.Public()] = true
	}
	return l
}

// ownDevice is one device of alice's running an agent, and what others dial it as.
type ownDevice struct {
	*node
	as Device
}

func newOwnDevice(t *testing.T, rv string, alice *identity.Key, name string, id string, list *deviceList) ownDevice {
	t.Helper()
	return startOwnDevice(t, []string{rv}, alice, name, id, Config{OwnDevice: list.has, PunchTimeout: 3 * time.Second})
}

// startOwnDevice starts a node of alice's with cfg: her identity itself when id is
// empty, else a device key she certifies with that id.
func startOwnDevice(t *testing.T, servers []string, alice *identity.Key, name, id string, cfg Config) ownDevice {
	t.Helper()
	var cert *signedv1.Envelope
	if id == "" {
		cfg.Key = alice
	} else {
		cfg.Key = mustKey(t)
		var err error
		if cert, err = device.Issue(alice, cfg.Key.Public(), []byte(id), time.Now().Add(-time.Hour), 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		cfg.DeviceID, cfg.DeviceCertificate = []byte(id), cert
	}
	n := newNode(t, name, servers, cfg)
	return ownDevice{node: n, as: Device{Key: cfg.Key.Public(), Certificate: cert, Name: name}}
}

// staleAddr is an address nothing answers at: a socket opened and closed.
func staleAddr(t *testing.T) string {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	c.Close()
	return addr
}

// TestDialOwnDevice: the devices of one person reach each other through the rendezvous
// when the address they kept is stale, the identity holder included; a device of the
// person that the callee's list does not hold gets no answer and learns no address; an
// address where another device of ours answers is refused.
func TestDialOwnDevice(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{})
	alice := mustKey(t)
	// Every device's list, filled once the keys exist. stray is certified by alice but
	// listed nowhere (a device removed from the list, or never added).
	lists := map[string]*deviceList{"first": listOf(), "laptop": listOf(), "desktop": listOf(), "stray": listOf()}
	first := newOwnDevice(t, rv.GRPC, alice, "first", "", lists["first"])
	laptop := newOwnDevice(t, rv.GRPC, alice, "laptop", "laptop01", lists["laptop"])
	desktop := newOwnDevice(t, rv.GRPC, alice, "desktop", "desktop1", lists["desktop"])
	stray := newOwnDevice(t, rv.GRPC, alice, "stray", "stray001", lists["stray"])
	for name, l := range lists {
		if name == "stray" {
			continue
		}
		for _, d := range []ownDevice{first, laptop, desktop} {
			l.keys[d.as.Key] = true
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	dialOK := func(from, to ownDevice, addr string) {
		t.Helper()
		d := to.as
		d.Addr = addr
		var err error
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			var c *Conn
			if c, err = from.agent.DialDevice(ctx, d); err == nil {
				c.Close()
				if from.agent.Remote(to.as.Key) == "" {
					t.Errorf("%s reached %s but keeps no path to it", from.name, to.name)
				}
				return
			}
		}
		t.Fatalf("%s dials own device %s (kept address %q): %v", from.name, to.name, addr, err)
	}
	dialOK(laptop, desktop, staleAddr(t))
	waitUntil(t, "desktop keeps the path laptop's offer proved, under laptop's device key", func() bool {
		return desktop.agent.Remote(laptop.as.Key) != ""
	})
	if desktop.agent.Remote(alice.Public()) != "" {
		t.Error("desktop kept laptop's path under the person's key")
	}
	dialOK(laptop, first, "")  // the identity holder is reached at the identity's record
	dialOK(first, desktop, "") // and reaches a device by its certificate

	// The stray device (a valid certificate, in nobody's list) gets no answer.
	_, err := stray.agent.DialDevice(ctx, desktop.as)
	if err == nil || !strings.Contains(err.Error(), "did not answer") {
		t.Fatalf("a device the callee does not list dialled it: %v, want no answer", err)
	}
	if desktop.agent.Remote(stray.as.Key) != "" || stray.agent.Remote(desktop.as.Key) != "" {
		t.Error("a path was made between desktop and a device it does not list")
	}

	// Bad input.
	if _, err := laptop.agent.DialDevice(ctx, laptop.as); !errors.Is(err, ErrSelf) {
		t.Errorf("dialling itself: %v, want ErrSelf", err)
	}
	bare := desktop.as
	bare.Certificate = nil
	if _, err := laptop.agent.DialDevice(ctx, bare); !errors.Is(err, device.ErrNotCertified) {
		t.Errorf("dialling a device key with no certificate: %v, want ErrNotCertified", err)
	}
	other := desktop.as
	other.Certificate = laptop.as.Certificate
	if _, err := first.agent.DialDevice(ctx, other); err == nil || !strings.Contains(err.Error(), "certificate names key") {
		t.Errorf("dialling a device with another device's certificate: %v", err)
	}
	laptopAt, err := net.ResolveUDPAddr("udp", first.agent.Remote(laptop.as.Key))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.agent.dialOwn(ctx, desktop.as.Key, &path{tr: first.tr, addr: laptopAt, kind: Direct}); !errors.Is(err, ErrOtherDevice) {
		t.Errorf("desktop dialled at laptop's address: %v, want ErrOtherDevice", err)
	}
}

// TestOwnDeviceDirectMode: without a rendezvous a device is dialled at its address
// only; with none there is nothing to try.
func TestOwnDeviceDirectMode(t *testing.T) {
	a := newAgent(t, nil, false)
	dev := mustKey(t).Public()
	cert, err := device.Issue(a.cfg.Key, dev, []byte("laptop01"), time.Now().Add(-time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.DialDevice(t.Context(), Device{Key: dev, Certificate: cert}); !errors.Is(err, ErrNoAddress) {
		t.Errorf("no address, no rendezvous: %v, want ErrNoAddress", err)
	}
	if _, err := a.DialDevice(t.Context(), Device{Key: dev, Certificate: cert, Addr: staleAddr(t)}); err == nil || errors.Is(err, ErrNoAddress) {
		t.Errorf("a stale address, no rendezvous: %v, want the dial's error", err)
	}
}

// TestAnswerFromThatDevice: an attempt that offered to one device takes the answer of
// that device only; an attempt that offered to a person takes any of its devices'.
func TestAnswerFromThatDevice(t *testing.T) {
	alice, laptop, desktop := mustKey(t), mustKey(t), mustKey(t)
	secret := []byte("0123456789abcdef")
	answer := func(from identity.PublicKey) discovery.Offer {
		return discovery.Offer{From: from, Person: alice.Public(), Offer: &rendezvousv1.Offer{PunchSecret: secret}}
	}
	tests := []struct {
		name   string
		device identity.PublicKey
		from   identity.PublicKey
		want   bool
	}{
		{"the device offered to", desktop.Public(), desktop.Public(), true},
		{"another device of the person", desktop.Public(), laptop.Public(), false},
		{"the identity, for a device", desktop.Public(), alice.Public(), false},
		{"any device, offered to the person", identity.PublicKey{}, laptop.Public(), true},
	}
	for _, tt := range tests {
		a := &Agent{answers: map[string]answerWaiter{}, log: testLogger()}
		wait, done := a.expectAnswer(secret, alice.Public(), tt.device)
		a.answered(answer(tt.from))
		select {
		case <-wait:
			if !tt.want {
				t.Errorf("%s: the answer was taken", tt.name)
			}
		default:
			if tt.want {
				t.Errorf("%s: the answer was not taken", tt.name)
			}
		}
		done()
		if len(a.answers) != 0 {
			t.Errorf("%s: done left the waiter", tt.name)
		}
	}
}

// TestOfferOnlyDevicesUnreadable: a person online only on a device (its identity holder
// off, so no record of the identity) whose sealed candidates we cannot open (we lack
// its reachability key) is still offered to, and its answer brings the candidates.
func TestOfferOnlyDevicesUnreadable(t *testing.T) {
	bob, alice, _ := personOnDevice(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	o, err := bob.agent.offer(ctx, alice.Public(), nil, netip.AddrPort{})
	if err != nil {
		t.Fatalf("offer to a person online only on a device, its candidates sealed: %v", err)
	}
	if !o.answered || len(o.cands) == 0 {
		t.Fatalf("the device's answer: answered %v, candidates %v", o.answered, o.cands)
	}
}

// personOnDevice starts a rendezvous, Alice online only on her laptop (a device; her
// identity holder is off, so the identity has no record) and Bob; each is the other's
// friend, and Bob does not hold Alice's reachability key.
func personOnDevice(t *testing.T) (bob *node, alice *identity.Key, laptop *node) {
	t.Helper()
	rv := rendezvoustest.Start(t, rendezvous.Config{})
	alice, laptopKey := mustKey(t), mustKey(t)
	cert, err := device.Issue(alice, laptopKey.Public(), []byte("laptop01"), time.Now().Add(-time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	laptop = newNode(t, "alice-laptop", []string{rv.GRPC}, Config{Key: laptopKey, DeviceID: []byte("laptop01"), DeviceCertificate: cert})
	bob = newNode(t, "bob", []string{rv.GRPC}, Config{})
	if err := bob.st.PutFriend(store.Friend{Key: alice.Public(), Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := laptop.st.PutFriend(store.Friend{Key: bob.key.Public(), Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	return bob, alice, laptop
}
