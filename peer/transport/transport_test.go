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

func TestBothEndsKnowEachOther(t *testing.T) {
	ks, kc := key(t), key(t)
	server, wrapped := newTransport(t, ks, true)
	client, _ := newTransport(t, kc, false)
	ln, err := server.Listen()
	if err != nil {
		t.Fatal(err)
	}
	got := accept(t, ln)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, server.Addr(), ks.Public())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	in := <-got
	if in == nil || in.PeerKey() != kc.Public() {
		t.Fatalf("server sees the caller as %v, want %s", in, kc.ID())
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(in, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if wrapped.reads.Load() == 0 {
		t.Error("the transport did not read through the PacketConn it was given")
	}
	ps := server.Peers()
	if len(ps) != 1 || ps[0].ID != kc.ID() || !ps[0].Inbound || ps[0].Path != Direct || ps[0].Remote != client.Addr().String() {
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
	ks := key(t)
	server, _ := newTransport(t, ks, false)
	client, _ := newTransport(t, key(t), false)
	ln, err := server.Listen()
	if err != nil {
		t.Fatal(err)
	}
	got := accept(t, ln)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, server.Addr(), ks.Public())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte{1})
	in := <-got // never read from: flow control soon blocks the writer
	if in == nil {
		t.Fatal("no inbound connection")
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := in.Write(make([]byte, 32<<20))
		wrote <- err
	}()
	time.Sleep(200 * time.Millisecond)
	in.Close()
	select {
	case err := <-wrote:
		if err == nil {
			t.Fatal("a write of 32 MiB nobody read succeeded")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not release a Write blocked on flow control")
	}
	c.Close()
}
