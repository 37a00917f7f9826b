package reach

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/transport"
	"github.com/kithnet/kith/shared/identity"
)

// deafConn is a UDP socket whose path can die: while deaf is set it drops everything
// it reads and everything it is given to send (no answer, no close).
type deafConn struct {
	net.PacketConn
	deaf atomic.Bool
}

func (c *deafConn) WriteTo(b []byte, to net.Addr) (int, error) {
	if c.deaf.Load() {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, to)
}

func (c *deafConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, from, err := c.PacketConn.ReadFrom(b)
		if err != nil || !c.deaf.Load() {
			return n, from, err
		}
	}
}

// TestStatusConnectedOnlyWhileAnswering: a connection is listed (kith status
// "connected") while packets arrive on it, and no longer once it has received nothing
// for more than a keepalive interval, long before QUIC's idle timeout closes it.
func TestStatusConnectedOnlyWhileAnswering(t *testing.T) {
	const keepalive = 300 * time.Millisecond
	ka, kb := mustKey(t), mustKey(t)
	pa, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pa.Close() })
	raw, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pb := &deafConn{PacketConn: raw}
	t.Cleanup(func() { raw.Close() })
	quiet := slog.New(slog.DiscardHandler)
	ta, err := transport.New(transport.Config{Key: ka, PacketConn: pa, Logger: quiet, KeepAlive: keepalive})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ta.Close() })
	tb, err := transport.New(transport.Config{Key: kb, PacketConn: pb, Logger: quiet, KeepAlive: keepalive})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tb.Close() })
	acceptAndHold(t, tb)
	a, err := New(Config{Key: ka, Transport: ta, Logger: quiet, KeepAlive: keepalive})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
	defer dcancel()
	c, err := ta.Dial(dctx, tb.Addr(), kb.Public())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("h")); err != nil {
		t.Fatal(err)
	}
	listed := func() bool {
		for _, p := range a.Peers() {
			if p.ID == kb.ID() {
				return true
			}
		}
		return false
	}
	time.Sleep(3 * keepalive)
	if !listed() {
		t.Fatal("a connection that answers its keepalives is not listed as connected")
	}
	pb.deaf.Store(true)
	time.Sleep(3 * keepalive)
	if listed() {
		t.Fatalf("a connection silent for %v (keepalive %v) is still listed as connected", 3*keepalive, keepalive)
	}
	if len(a.allPeers()) == 0 {
		t.Fatal("the silent connection was already closed: the test shows nothing about status")
	}
}

func mustKey(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// acceptAndHold accepts every QUIC connection tr's listener gets and keeps each open
// until its peer closes it: a peer that answers handshakes and nothing else.
func acceptAndHold(t *testing.T, tr *transport.Transport) {
	t.Helper()
	ln, err := tr.Listen()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { b := make([]byte, 64); c.Read(b) }()
		}
	}()
}
