package natlab

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"

	"github.com/pion/stun"
)

// ServeSTUN answers STUN binding requests on conn with the sender's address
// (XOR-MAPPED-ADDRESS) until ctx ends or conn is closed: the reflector a lab puts on
// an internet host so peers learn their server-reflexive addresses. Anything else is
// ignored. It closes conn when ctx ends.
func ServeSTUN(ctx context.Context, conn net.PacketConn) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		conn.Close()
	}()
	defer wg.Wait()
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		resp, ok := bindingResponse(buf[:n], from)
		if ok {
			_, _ = conn.WriteTo(resp, from)
		}
	}
}

// bindingResponse builds the success response to a binding request from from, or
// reports false for anything else.
func bindingResponse(req []byte, from net.Addr) ([]byte, bool) {
	ua, ok := from.(*net.UDPAddr)
	if !ok || !stun.IsMessage(req) {
		return nil, false
	}
	m := &stun.Message{Raw: append([]byte(nil), req...)}
	if err := m.Decode(); err != nil || m.Type != stun.BindingRequest {
		return nil, false
	}
	resp, err := stun.Build(stun.NewTransactionIDSetter(m.TransactionID), stun.BindingSuccess,
		&stun.XORMappedAddress{IP: ua.IP, Port: ua.Port}, stun.Fingerprint)
	if err != nil {
		return nil, false
	}
	return resp.Raw, true
}

// RunSTUN serves STUN on conn (ServeSTUN) until t ends, and fails t if serving fails.
func RunSTUN(t testing.TB, conn net.PacketConn) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := ServeSTUN(ctx, conn); err != nil {
			t.Errorf("natlab: STUN reflector on %s: %v", conn.LocalAddr(), err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}
