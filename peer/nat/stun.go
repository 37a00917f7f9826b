package nat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/pion/stun"
)

// ErrNoMappedAddress says a STUN success response carried no (XOR-)MAPPED-ADDRESS.
var ErrNoMappedAddress = errors.New("nat: STUN response without a mapped address")

// bindingRTO is the first retransmission timeout of a Binding; it doubles each time.
const bindingRTO = 250 * time.Millisecond

// Binding asks the STUN server, from the shared socket, which address it sees: the
// server-reflexive candidate. It retransmits until ctx ends.
func (m *Mux) Binding(ctx context.Context, server netip.AddrPort) (netip.AddrPort, error) {
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	answer := make(chan netip.AddrPort, 1)
	m.mu.Lock()
	m.bindings[req.TransactionID] = answer
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.bindings, req.TransactionID)
		m.mu.Unlock()
	}()
	to := net.UDPAddrFromAddrPort(server)
	rto := bindingRTO
	for {
		if _, err := m.conn.WriteTo(req.Raw, to); err != nil {
			return netip.AddrPort{}, fmt.Errorf("nat: STUN binding to %s: %w", server, err)
		}
		t := time.NewTimer(rto)
		select {
		case a := <-answer:
			t.Stop()
			return a, nil
		case <-ctx.Done():
			t.Stop()
			return netip.AddrPort{}, fmt.Errorf("nat: STUN binding to %s: no answer: %w", server, ctx.Err())
		case <-m.done:
			t.Stop()
			return netip.AddrPort{}, fmt.Errorf("nat: STUN binding to %s: %w", server, net.ErrClosed)
		case <-t.C:
		}
		rto = min(2*rto, 2*time.Second)
	}
}

// deliverBinding hands a STUN response to the Binding waiting for its transaction
// and reports whether one was.
func (m *Mux) deliverBinding(b []byte) bool {
	tx, addr, err := ParseBindingResponse(b)
	if err != nil {
		return false
	}
	m.mu.Lock()
	answer, ok := m.bindings[tx]
	m.mu.Unlock()
	if ok {
		select {
		case answer <- addr:
		default:
		}
	}
	return ok
}

// ParseBindingResponse parses a STUN binding success response into its transaction
// ID and the mapped address (XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS from an RFC 3489
// server).
func ParseBindingResponse(b []byte) (tx [12]byte, addr netip.AddrPort, err error) {
	if !stun.IsMessage(b) {
		return tx, addr, errors.New("nat: not a STUN message")
	}
	msg := &stun.Message{Raw: append([]byte(nil), b...)}
	if err := msg.Decode(); err != nil {
		return tx, addr, fmt.Errorf("nat: STUN message: %w", err)
	}
	if msg.Type != stun.BindingSuccess {
		return tx, addr, fmt.Errorf("nat: STUN message %s is not a binding success", msg.Type)
	}
	var xor stun.XORMappedAddress
	if err := xor.GetFrom(msg); err == nil {
		addr, err = toAddrPort(xor.IP, xor.Port)
		return msg.TransactionID, addr, err
	}
	var mapped stun.MappedAddress
	if err := mapped.GetFrom(msg); err == nil {
		addr, err = toAddrPort(mapped.IP, mapped.Port)
		return msg.TransactionID, addr, err
	}
	return tx, addr, ErrNoMappedAddress
}

func toAddrPort(ip net.IP, port int) (netip.AddrPort, error) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok || port <= 0 || port > 65535 {
		return netip.AddrPort{}, fmt.Errorf("%w: %v:%d is not an address", ErrNoMappedAddress, ip, port)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}
