package transport

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// syncBuf is a log sink tests read while transports write to it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// deviceTransport starts a transport for key k (with cert when a device), holding
// revoked as the revocations it knows, logging to log.
func deviceTransport(t *testing.T, k *identity.Key, cert *signedv1.Envelope, revoked *[]device.Revocation, log *syncBuf) *Transport {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	tr, err := New(Config{Key: k, PacketConn: pc, DeviceCertificate: cert,
		Logger:  slog.New(slog.NewTextHandler(log, nil)),
		Revoked: func(identity.PublicKey) ([]device.Revocation, error) { return *revoked, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// inbound holds, per listening transport, its accepted connections.
var inbound sync.Map // *Transport -> chan *Conn

// accepted listens on tr once and returns the channel of its inbound connections.
func accepted(t *testing.T, tr *Transport) chan *Conn {
	t.Helper()
	if ch, ok := inbound.Load(tr); ok {
		return ch.(chan *Conn)
	}
	ln, err := tr.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *Conn, 8)
	inbound.Store(tr, ch)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ch <- c.(*Conn)
		}
	}()
	return ch
}

// dialOnce dials to at want and, on success, returns both ends' views.
func dialOnce(t *testing.T, from, to *Transport, want identity.PublicKey) (out, in *Conn, err error) {
	t.Helper()
	got := accepted(t, to)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if out, err = from.Dial(ctx, to.Addr(), want); err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { out.Close() })
	if _, err := out.Write([]byte("h")); err != nil {
		return out, nil, err
	}
	select {
	case in = <-got:
		if in == nil {
			return out, nil, errors.New("listener closed")
		}
	case <-time.After(3 * time.Second):
		return out, nil, errors.New("server refused the connection")
	}
	return out, in, nil
}

// TestDeviceSpeaksForItsPerson: Alice's laptop, with its own key, is Alice to Bob in
// both directions; once Bob holds the laptop's revocation, neither direction works and
// Bob's log names the person and the device.
func TestDeviceSpeaksForItsPerson(t *testing.T) {
	alice, laptopKey, bob, mallory := key(t), key(t), key(t), key(t)
	cert, err := device.Issue(alice, laptopKey.Public(), []byte("laptop01"), time.Now().Add(-time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var none, bobKnows []device.Revocation
	bobLog := &syncBuf{}
	laptop := deviceTransport(t, laptopKey, cert, &none, &syncBuf{})
	bobT := deviceTransport(t, bob, nil, &bobKnows, bobLog)
	if laptop.ID() != alice.ID() {
		t.Fatalf("the laptop's transport speaks for %s, want Alice %s", laptop.ID(), alice.ID())
	}

	out, in, err := dialOnce(t, laptop, bobT, bob.Public())
	if err != nil {
		t.Fatalf("laptop -> Bob: %v", err)
	}
	if in.PeerKey() != alice.Public() || in.DeviceKey() != laptopKey.Public() || out.PeerKey() != bob.Public() {
		t.Fatalf("Bob sees %s via %s; want Alice via the laptop", in.PeerKey().Short(), in.DeviceKey().Short())
	}
	out, _, err = dialOnce(t, bobT, laptop, alice.Public())
	if err != nil {
		t.Fatalf("Bob -> laptop as Alice: %v", err)
	}
	if out.PeerKey() != alice.Public() || out.DeviceKey() != laptopKey.Public() {
		t.Fatalf("Bob dialled %s via %s; want Alice via the laptop", out.PeerKey().Short(), out.DeviceKey().Short())
	}
	if _, _, err := dialOnce(t, bobT, laptop, mallory.Public()); !errors.Is(err, ErrWrongPeer) && err == nil {
		t.Fatal("Bob dialling Mallory accepted Alice's laptop")
	}

	c, err := device.Open(cert, alice.Public())
	if err != nil {
		t.Fatal(err)
	}
	revEnv, err := device.Revoke(alice, c, time.Now().Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	r, err := device.OpenRevocation(revEnv, alice.Public())
	if err != nil {
		t.Fatal(err)
	}
	bobKnows = append(bobKnows, r)
	if _, _, err := dialOnce(t, bobT, laptop, alice.Public()); err == nil {
		t.Fatal("Bob reached Alice through a device she revoked")
	}
	if _, _, err := dialOnce(t, laptop, bobT, bob.Public()); err == nil {
		t.Fatal("a revoked device reached Bob as Alice")
	}
	logged := bobLog.String()
	if !strings.Contains(logged, "refused a revoked device") || !strings.Contains(logged, string(alice.ID())) ||
		!strings.Contains(logged, "6c6170746f703031") { // "laptop01"
		t.Fatalf("Bob's log does not name the revoked device and its person:\n%s", logged)
	}
}

// TestDeviceCertificateMustChain: a certificate for another key, or by someone else
// than the key it claims, is refused rather than taken for a stranger.
func TestDeviceCertificateMustChain(t *testing.T) {
	alice, laptopKey, otherKey, bob := key(t), key(t), key(t), key(t)
	var none []device.Revocation
	otherCert, err := device.Issue(alice, otherKey.Public(), []byte("other001"), time.Now().Add(-time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Key: laptopKey, PacketConn: nil, DeviceCertificate: otherCert}); err == nil {
		t.Fatal("New accepted a config without a PacketConn")
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := New(Config{Key: laptopKey, PacketConn: pc, DeviceCertificate: otherCert}); err == nil {
		t.Fatal("New accepted a device certificate for another key")
	}
	// Forge: the laptop presents another device's certificate in its TLS certificate.
	bobT := deviceTransport(t, bob, nil, &none, &syncBuf{})
	forger := deviceTransport(t, laptopKey, nil, &none, &syncBuf{})
	forger.cert, err = certificate(laptopKey, otherCert, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dialOnce(t, bobT, forger, alice.Public()); !errors.Is(err, ErrDeviceRefused) {
		t.Fatalf("Bob accepted a certificate for another device's key: %v", err)
	}
	if _, in, err := dialOnce(t, forger, bobT, bob.Public()); err == nil {
		t.Fatalf("Bob's server took the forger for %s", in.PeerKey().Short())
	}
}
