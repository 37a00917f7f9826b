package transport

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// listener accepts QUIC connections and hands out their first stream as a net.Conn.
type listener struct {
	t      *Transport
	ql     *quic.Listener
	ctx    context.Context
	cancel context.CancelFunc
	conns  chan *Conn
	wg     sync.WaitGroup
	once   sync.Once
}

// Listen starts accepting connections from any key; the returned listener feeds a
// grpc.Server (with Credentials). Only one listener per Transport.
func (t *Transport) Listen() (net.Listener, error) {
	ql, err := t.qt.Listen(t.tlsConfig(nil), t.quicConfig())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{t: t, ql: ql, ctx: ctx, cancel: cancel, conns: make(chan *Conn)}
	t.mu.Lock()
	t.ln = l
	t.mu.Unlock()
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

func (l *listener) acceptLoop() {
	defer l.wg.Done()
	for {
		qc, err := l.ql.Accept(l.ctx)
		if err != nil {
			return
		}
		l.wg.Add(1)
		go l.firstStream(qc)
	}
}

// firstStream waits (briefly, on its own goroutine, so one slow dialler cannot hold up
// the others) for the dialler's stream; a dial-back's stream is ours to open, once the
// dialler's key has been checked (back.go).
func (l *listener) firstStream(qc *quic.Conn) {
	defer l.wg.Done()
	back := qc.ConnectionState().TLS.NegotiatedProtocol == alpnBack
	var st *quic.Stream
	if !back {
		ctx, cancel := context.WithTimeout(l.ctx, 10*time.Second)
		var err error
		st, err = qc.AcceptStream(ctx)
		cancel()
		if err != nil {
			l.t.log.Debug("closed a connection that opened no stream", "remote", qc.RemoteAddr().String(), "err", err)
			qc.CloseWithError(0, "no stream")
			return
		}
	}
	var raw [][]byte
	for _, c := range qc.ConnectionState().TLS.PeerCertificates {
		raw = append(raw, c.Raw)
	}
	k, devCert, err := peerKey(raw)
	if err != nil {
		l.t.log.Debug("closed a connection with a bad certificate", "remote", qc.RemoteAddr().String(), "err", err)
		qc.CloseWithError(0, "bad certificate")
		return
	}
	// Already checked in the handshake; asked again for the person it stands for.
	person, dev, err := l.t.who(k, devCert, nil)
	if err != nil {
		l.t.log.Debug("closed a connection with a bad device certificate", "peer", k.Short(), "remote", qc.RemoteAddr().String(), "err", err)
		qc.CloseWithError(0, "bad device certificate")
		return
	}
	if back {
		if st, err = openBack(qc); err != nil {
			l.t.log.Debug("closed a dial-back whose stream did not open", "peer", k.Short(), "remote", qc.RemoteAddr().String(), "err", err)
			qc.CloseWithError(0, "no stream")
			return
		}
	}
	c := l.t.trackInbound(qc, st, person)
	if c != nil {
		c.device = dev
	}
	if c == nil {
		l.t.log.Debug("refused a connection past the limits", "peer", k.Short(), "remote", qc.RemoteAddr().String())
		qc.CloseWithError(closeTooMany, "too many connections")
		return
	}
	if back {
		l.t.dialledBack(c)
		return
	}
	select {
	case l.conns <- c:
	case <-l.ctx.Done():
		c.Close()
	}
}

// Accept returns the next connection.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.ctx.Done():
		return nil, net.ErrClosed
	}
}

// Close stops accepting and waits for the accepting goroutines.
func (l *listener) Close() error {
	l.once.Do(func() {
		l.cancel()
		l.ql.Close()
		l.wg.Wait()
	})
	return nil
}

// Addr returns the listening address.
func (l *listener) Addr() net.Addr { return l.ql.Addr() }
