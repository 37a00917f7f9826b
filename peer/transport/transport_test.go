package transport

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/kithnet/kith/shared/identity"
)

func key(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// countingConn is a net.PacketConn of the caller's own making, as a demultiplexer or a
// TURN relay's PacketConn would be: the transport must run over it unchanged.
type countingConn struct {
	net.PacketConn
	reads atomic.Int64
}

func (c *countingConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := c.PacketConn.ReadFrom(b)
	c.reads.Add(1)
	return n, a, err
}

func newTransport(t *testing.T, k *identity.Key, wrap bool) (*Transport, *countingConn) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	cc := &countingConn{PacketConn: pc}
	var conn net.PacketConn = pc
	if wrap {
		conn = cc
	}
	tr, err := New(Config{Key: k, PacketConn: conn, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, cc
}

// accept returns the next inbound connection of tr's listener.
func accept(t *testing.T, ln net.Listener) chan *Conn {
	t.Helper()
	ch := make(chan *Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(ch)
			return
		}
		ch <- c.(*Conn)
	}()
	return ch
}

// connected is a dialled connection and the server's side of it.
type connected struct {
	server, client *Transport
	ks, kc         *identity.Key
	out, in        *Conn
	wrapped        *countingConn
}

// connect dials a server transport (on a wrapped PacketConn) from a client transport.
// The client writes one byte, since a QUIC stream is announced by its first data.
func connect(t *testing.T) connected {
	t.Helper()
	c := connected{ks: key(t), kc: key(t)}
	c.server, c.wrapped = newTransport(t, c.ks, true)
	c.client, _ = newTransport(t, c.kc, false)
	ln, err := c.server.Listen()
	if err != nil {
		t.Fatal(err)
	}
	got := accept(t, ln)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c.out, err = c.client.Dial(ctx, c.server.Addr(), c.ks.Public()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.out.Close() })
	if _, err := c.out.Write([]byte("h")); err != nil {
		t.Fatal(err)
	}
	if c.in = <-got; c.in == nil {
		t.Fatal("no inbound connection")
	}
	return c
}

func TestBothEndsKnowEachOther(t *testing.T) {
	c := connect(t)
	if c.in.PeerKey() != c.kc.Public() || c.out.PeerKey() != c.ks.Public() {
		t.Fatalf("the ends see %s and %s, want %s and %s", c.in.PeerKey().Short(), c.out.PeerKey().Short(), c.kc.Public().Short(), c.ks.Public().Short())
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(c.in, buf); err != nil || string(buf) != "h" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if c.wrapped.reads.Load() == 0 {
		t.Error("the transport did not read through the PacketConn it was given")
	}
	ps := c.server.Peers()
	if len(ps) != 1 || ps[0].ID != c.kc.ID() || !ps[0].Inbound || ps[0].Path != Direct || ps[0].Remote != c.client.Addr().String() {
		t.Errorf("server Peers() = %+v", ps)
	}
}

func TestDialRefusesAnotherKey(t *testing.T) {
	server, _ := newTransport(t, key(t), false)
	client, _ := newTransport(t, key(t), false)
	if _, err := server.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := client.Dial(ctx, server.Addr(), key(t).Public())
	if err == nil {
		t.Fatal("dialled a peer holding another key than expected")
	}
}

// A client without a certificate (no identity) is refused by the server.
func TestServerRequiresCertificate(t *testing.T) {
	server, _ := newTransport(t, key(t), false)
	if _, err := server.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conf := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{alpn}, MinVersion: tls.VersionTLS13}
	qc, err := quic.DialAddr(ctx, server.Addr().String(), conf, nil)
	if err == nil {
		// The server may refuse only after the client's handshake completes.
		_, err = qc.AcceptStream(ctx)
	}
	if err == nil {
		t.Fatal("a client without a certificate got a connection")
	}
}

// Packets that are not QUIC (STUN, punching) reach ReadNonQUICPacket on the same socket.
func TestNonQUICPacketsShareTheSocket(t *testing.T) {
	tr, _ := newTransport(t, key(t), false)
	if _, err := tr.Listen(); err != nil {
		t.Fatal(err)
	}
	other, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	stun := []byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// quic-go queues non-QUIC packets only once someone reads them, so keep sending
	// until the reader below has started.
	sent := make(chan struct{})
	defer func() { cancel(); <-sent }()
	go func() {
		defer close(sent)
		for ctx.Err() == nil {
			other.WriteTo(stun, tr.Addr())
			time.Sleep(20 * time.Millisecond)
		}
	}()
	buf := make([]byte, 1500)
	n, from, err := tr.ReadNonQUICPacket(ctx, buf)
	if err != nil || string(buf[:n]) != string(stun) || from.String() != other.LocalAddr().String() {
		t.Fatalf("ReadNonQUICPacket: %d bytes from %v, %v", n, from, err)
	}
	if _, err := tr.WriteTo([]byte{0, 1}, other.LocalAddr()); err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without key and PacketConn succeeded")
	}
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	defer pc.Close()
	if _, err := New(Config{Key: key(t), PacketConn: pc, Path: "carrier pigeon"}); err == nil {
		t.Error("New with an unknown path succeeded")
	}
}

// Closing a Conn releases a Write blocked because the other end stopped reading.
func TestCloseReleasesBlockedWrite(t *testing.T) {
	c := connect(t) // c.out is never read from: flow control soon blocks c.in's writer
	wrote := make(chan error, 1)
	go func() {
		_, err := c.in.Write(make([]byte, 32<<20))
		wrote <- err
	}()
	time.Sleep(200 * time.Millisecond)
	c.in.Close()
	select {
	case err := <-wrote:
		if err == nil {
			t.Fatal("a write of 32 MiB nobody read succeeded")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not release a Write blocked on flow control")
	}
}
