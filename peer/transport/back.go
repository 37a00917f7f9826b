package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/kithnet/kith/shared/identity"
)

// The dial-back (issue 20, docs/DESIGN.md "The callee dials back"): a callee that
// answers a friend's offer may dial QUIC at the caller itself, under alpnBack, and
// serve its sync API on that connection; the caller's listener hands such a connection
// to whoever waits for one from that peer (OnDialBack), to be used as a gRPC client,
// and closes it when nobody does.

// alpnBack names a connection dialled back: the dialler serves, the listener's side is
// the gRPC client.
const alpnBack = "kith-sync-back/1"

// backMarkWait bounds the wait for a dial-back's mark.
const backMarkWait = 5 * time.Second

// backMark is the byte a dial-back's stream starts with: a QUIC stream is announced by
// its first data, and the dialler's side (a server) need not speak first. The listener
// reads it before handing the stream on.
const backMark = 0x6b

// DialBack dials the peer want at addr as a dial-back: the handshake proves want's key
// as Dial's does, and the returned connection is to be served (Serve), not used as a
// client.
func (t *Transport) DialBack(ctx context.Context, addr net.Addr, want identity.PublicKey) (*Conn, error) {
	conf := t.tlsConfig(&want)
	conf.NextProtos = []string{alpnBack}
	c, err := t.dial(ctx, addr, want, conf)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte{backMark}); err != nil {
		c.Close()
		return nil, fmt.Errorf("dial %s back at %s: %w", want.Short(), addr, err)
	}
	return c, nil
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
	var mark [1]byte
	c.st.SetReadDeadline(time.Now().Add(backMarkWait))
	if _, err := io.ReadFull(c.st, mark[:]); err != nil || mark[0] != backMark {
		t.log.Debug("closed a dial-back without its mark", "peer", c.peer.Short(), "remote", c.RemoteAddr().String(), "err", err)
		c.qc.CloseWithError(closeUnexpected, "no dial-back mark")
		c.Close()
		return
	}
	c.st.SetReadDeadline(time.Time{})
	t.mu.Lock()
	take := t.back
	t.mu.Unlock()
	if take == nil || !take(c) {
		t.log.Debug("closed a dial-back nobody waits for", "peer", c.peer.Short(), "remote", c.RemoteAddr().String())
		c.qc.CloseWithError(closeUnexpected, "unexpected dial-back")
		c.Close()
	}
}
