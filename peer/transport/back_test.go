package transport

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// TestDialBack: a connection dialled back goes to the OnDialBack taker, not to the
// listener's Accept, and carries bytes both ways; the dialler's Serve hands its side to
// its own listener's Accept. One nobody takes is closed; the dialler refuses a stream
// without the mark and gives up on one that never opens; a plain dial still reaches
// Accept.
func TestDialBack(t *testing.T) {
	caller, callee := key(t), key(t)
	ct, _ := newTransport(t, caller, false)
	bt, _ := newTransport(t, callee, false)
	cln, err := ct.Listen()
	if err != nil {
		t.Fatal(err)
	}
	bln, err := bt.Listen()
	if err != nil {
		t.Fatal(err)
	}
	taken := make(chan *Conn, 1)
	ct.OnDialBack(func(c *Conn) bool {
		if c.PeerKey() != callee.Public() {
			return false
		}
		taken <- c
		return true
	})
	accepted := accept(t, cln)
	served := accept(t, bln)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	back, err := bt.DialBack(ctx, ct.Addr(), caller.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := bt.Serve(back); err != nil {
		t.Fatal(err)
	}
	srv := <-served
	if srv != back {
		t.Fatal("Serve did not hand the dial-back to the callee's listener")
	}
	if _, err := srv.Write([]byte("s")); err != nil { // the served side may speak first, as gRPC's server does
		t.Fatal(err)
	}
	var got *Conn
	select {
	case got = <-taken:
	case c := <-accepted:
		t.Fatalf("the dial-back went to Accept (%v), not to the taker", c)
	case <-ctx.Done():
		t.Fatal("the caller never got the dial-back")
	}
	defer got.Close()
	if got.PeerKey() != callee.Public() || !got.Info().Inbound {
		t.Fatalf("taken connection: peer %s inbound %v", got.PeerKey().Short(), got.Info().Inbound)
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(got, buf); err != nil || string(buf) != "s" {
		t.Fatalf("caller read %q, %v", buf, err)
	}
	if _, err := got.Write([]byte("c")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(srv, buf); err != nil || string(buf) != "c" {
		t.Fatalf("callee read %q, %v", buf, err)
	}

	// A dial-back the taker refuses (another key) is closed, and Accept never sees it.
	other := key(t)
	ot, _ := newTransport(t, other, false)
	if _, err := ot.Listen(); err != nil {
		t.Fatal(err)
	}
	if stray, err := ot.DialBack(ctx, ct.Addr(), caller.Public()); err == nil {
		if _, err := stray.Read(buf); err == nil {
			t.Fatal("a dial-back nobody waits for stayed open")
		}
	}
	select {
	case c := <-accepted:
		t.Fatalf("a refused dial-back reached Accept: %v", c)
	default:
	}

	// The dialler serves only a stream that the other end opened with the mark, and
	// waits for one no longer than its context.
	for _, tc := range []struct {
		name, want string
		open       func(*quic.Conn)
	}{
		{"a stream without the mark", "not the dial-back mark", func(qc *quic.Conn) {
			if st, err := qc.OpenStream(); err == nil {
				st.Write([]byte("x"))
			}
		}},
		{"no stream", "opened no stream", func(*quic.Conn) {}},
	} {
		fk := key(t)
		ft, _ := newTransport(t, fk, false)
		ql, err := ft.qt.Listen(ft.tlsConfig(nil), ft.quicConfig())
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			if qc, err := ql.Accept(ctx); err == nil {
				tc.open(qc)
			}
		}()
		short, cancel := context.WithTimeout(ctx, time.Second)
		_, err = bt.DialBack(short, ft.Addr(), fk.Public())
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: DialBack = %v, want an error saying %q", tc.name, err, tc.want)
		}
		ql.Close()
	}

	// A plain dial still reaches Accept.
	plain, err := bt.Dial(ctx, ct.Addr(), caller.Public())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.Write([]byte("p")); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-accepted:
		if c == nil || c.PeerKey() != callee.Public() {
			t.Fatalf("Accept returned %v", c)
		}
		c.Close()
	case <-ctx.Done():
		t.Fatal("a plain dial never reached Accept")
	}
}
