package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"time"
)

// warmWait bounds the warm-up's handshake: over an unbuffered pipe, a side that fails
// while the other is still writing would otherwise wait for ever.
const warmWait = 5 * time.Second

// Warm runs one TLS 1.3 handshake of the transport's certificate with itself, in
// memory, so that a node's first real handshake after it starts does not also pay for
// the first use of its cryptography (key exchange, signatures, certificate parsing:
// lazily built tables and code not yet paged in). Nothing leaves the process, and no
// peer is checked or counted: the certificates are only parsed, the rules of who may
// connect are not run.
func (t *Transport) Warm(ctx context.Context) error {
	parse := func(raw [][]byte, _ [][]*x509.Certificate) error {
		_, _, err := peerKey(raw)
		return err
	}
	srv, cli := t.tlsConfig(nil), t.tlsConfig(new(t.cfg.Key.Public()))
	srv.VerifyPeerCertificate, cli.VerifyPeerCertificate = parse, parse
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	deadline := time.Now().Add(warmWait)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	done := make(chan error, 1)
	go func() { done <- tls.Server(a, srv).HandshakeContext(ctx) }()
	err := tls.Client(b, cli).HandshakeContext(ctx)
	b.Close() // a server that failed waits for nothing more
	return errors.Join(err, <-done)
}
