package nat

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// newMux opens a Mux on a loopback socket, closed when t ends.
func newMux(t *testing.T) *Mux {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return muxOn(t, conn)
}

// muxOn starts a Mux on conn, closed when t ends.
func muxOn(t testing.TB, conn *net.UDPConn) *Mux {
	t.Helper()
	m := NewMux(conn, MuxConfig{})
	t.Cleanup(func() { m.Close() })
	return m
}

// tlsConfigs returns a server config with a fresh self-signed ed25519 certificate and
// a client config that accepts it (identity checks belong to the transport, not here).
func tlsConfigs(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}
	return &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"kith-test"}},
		&tls.Config{InsecureSkipVerify: true, NextProtos: []string{"kith-test"}}
}

// quicEcho runs a QUIC server on serverConn and dials it from clientConn at addr,
// sends a message on a stream and checks the echo: proof that QUIC works on the path.
func quicEcho(t *testing.T, serverConn, clientConn net.PacketConn, addr net.Addr) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	serverTLS, clientTLS := tlsConfigs(t)
	st, ct := &quic.Transport{Conn: serverConn}, &quic.Transport{Conn: clientConn}
	defer st.Close()
	defer ct.Close()
	ln, err := st.Listen(serverTLS, nil)
	if err != nil {
		return err
	}
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		defer c.CloseWithError(0, "")
		s, err := c.AcceptStream(ctx)
		if err != nil {
			return
		}
		_, _ = io.Copy(s, s)
		s.Close()
		<-c.Context().Done()
	}()
	c, err := ct.Dial(ctx, addr, clientTLS, nil)
	if err != nil {
		return err
	}
	defer c.CloseWithError(0, "")
	s, err := c.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	msg := []byte("hello over QUIC")
	if _, err := s.Write(msg); err != nil {
		return err
	}
	s.Close()
	got, err := io.ReadAll(s)
	if err != nil {
		return err
	}
	if string(got) != string(msg) {
		t.Errorf("QUIC echo = %q, want %q", got, msg)
	}
	return nil
}
