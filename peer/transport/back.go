package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/kithnet/kith/shared/identity"
)

// The dial-back (issue 20, docs/DESIGN.md "The callee dials back"): a callee that
// answers a friend's offer may dial QUIC at the caller itself, under alpnBack, and
// serve its sync API on that connection; the caller's listener hands such a connection
// to whoever waits for one from that peer (OnDialBack), to be used as a gRPC client,
// and closes it at once when nobody does.
//
// The caller opens the connection's stream (it speaks first: it is the gRPC client) and
// writes backMark on it as soon as its handshake ends, so its find holds the
// connection then. Version 1 of the ALPN had the dialler open it, once its own Dial
// returned: the stream came in a datagram of its own after the dialler's Finished, and
// the caller waited for it.

// alpnBack names a connection dialled back: the dialler serves, the listener's side is
// the gRPC client and opens the stream.
const alpnBack = "kith-sync-back/2"

// backMarkWait bounds the dialler's wait for the listener's stream and its mark when
// its context sets no deadline.
const backMarkWait = 5 * time.Second

// backMark is the byte a dial-back's stream starts with: a QUIC stream is announced by
// its first data, and the stream's first user (a gRPC client) may not write at once.
// The dialler reads it before it serves the stream.
const backMark = 0x6b

// DialBack dials the peer want at addr as a dial-back: the handshake proves want's key
// as Dial's does, then it waits (within ctx, or backMarkWait) for the stream want opens
// and its mark. The returned connection is to be served (Serve), not used as a client.
func (t *Transport) DialBack(ctx context.Context, addr net.Addr, want identity.PublicKey) (*Conn, error) {
	conf := t.tlsConfig(&want)
	conf.NextProtos = []string{alpnBack}
	qc, err := t.handshake(ctx, addr, want, conf)
	if err != nil {
		return nil, err
	}
	st, err := acceptBack(ctx, qc)
	if err != nil {
		qc.CloseWithError(closeUnexpected, "no dial-back stream")
		return nil, fmt.Errorf("dial %s back at %s: %w", want.Short(), addr, err)
	}
	c := t.track(qc, st, want, false)
	c.device = dialledDevice(qc)
	return c, nil
}

// acceptBack waits for the stream the listener of a dial-back opens, and its mark.
func acceptBack(ctx context.Context, qc *quic.Conn) (*quic.Stream, error) {
	ctx, cancel := context.WithTimeout(ctx, backMarkWait)
	defer cancel()
	st, err := qc.AcceptStream(ctx)
	if err != nil {
		return nil, fmt.Errorf("the peer opened no stream: %w", err)
	}
	deadline, _ := ctx.Deadline()
	st.SetReadDeadline(deadline)
	var mark [1]byte
	if _, err := io.ReadFull(st, mark[:]); err != nil {
		return nil, fmt.Errorf("no dial-back mark: %w", err)
	}
	if mark[0] != backMark {
		return nil, fmt.Errorf("the stream starts with %#x, not the dial-back mark", mark[0])
	}
	st.SetReadDeadline(time.Time{})
	return st, nil
}

// openBack opens a dial-back's stream on the listener's side and writes the mark, which
// announces it to the dialler.
func openBack(qc *quic.Conn) (*quic.Stream, error) {
	st, err := qc.OpenStream()
	if err != nil {
		return nil, err
	}
	if _, err := st.Write([]byte{backMark}); err != nil {
		return nil, err
	}
	return st, nil
}

// Serve hands c, a DialBack connection, to the listener: its Accept returns c, and the
// sync API is served on it as on a connection the peer dialled. Without a listener c
// is closed.
func (t *Transport) Serve(c *Conn) error {
	t.mu.Lock()
	ln := t.ln
	t.mu.Unlock()
	if ln == nil {
		c.Close()
		return errors.New("transport: nothing serves on this transport")
	}
	select {
	case ln.conns <- c:
		return nil
	case <-ln.ctx.Done():
		c.Close()
		return net.ErrClosed
	}
}

// OnDialBack sets what the listener does with a connection a peer dialled back: take
// reports whether something waited for it (it is then the taker's to use and close);
// a connection nobody takes is closed. Without it every such connection is closed.
func (t *Transport) OnDialBack(take func(*Conn) bool) {
	t.mu.Lock()
	t.back = take
	t.mu.Unlock()
}

// dialledBack gives c, which its peer dialled back, to the OnDialBack taker, and
// closes it when there is none or it is not taken.
func (t *Transport) dialledBack(c *Conn) {
	t.mu.Lock()
	take := t.back
	t.mu.Unlock()
	if take == nil || !take(c) {
		t.log.Debug("closed a dial-back nobody waits for", "peer", c.peer.Short(), "remote", c.RemoteAddr().String())
		c.qc.CloseWithError(closeUnexpected, "unexpected dial-back")
		c.Close()
	}
}
