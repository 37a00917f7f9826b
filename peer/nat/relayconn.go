package nat

import (
	"net"
	"net/netip"
	"sync"

	"github.com/pion/stun"
	"github.com/pion/turn/v2"
)

// relayConn is pion's relayed PacketConn with the buffer setters quic-go looks for,
// applied to the socket that really carries the relay's datagrams, and without the
// round trip pion adds before the first datagram to a peer we already let in.
//
// pion makes a CreatePermission of its own, and waits for its answer, before the first
// datagram it sends to an IP, whatever permissions Relay.Permit made: one round trip to
// the TURN server in the middle of the relayed connect (the pong, then QUIC's first
// Initial). For an IP Permit covers, relayConn sends at once as a Send indication it
// builds itself, while pion's own first write (a copy of the same datagram: QUIC and
// the punch drop duplicates) makes pion's permission and channel binding in the
// background; from then on pion sends, over the channel (4 bytes of framing).
type relayConn struct {
	net.PacketConn // pion's
	socket         net.PacketConn
	client         *turn.Client
	server         net.Addr

	mu    sync.Mutex
	early map[netip.Addr]bool // guards early: IPs Permit let in and pion has not written to; true while pion's first write runs
}

// permitted records that a permission of ours covers ip.
func (c *relayConn) permitted(ip netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.early[ip.Unmap()]; !ok {
		c.early[ip.Unmap()] = false
	}
}

// WriteTo sends p to addr through the relay.
func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return c.PacketConn.WriteTo(p, addr)
	}
	ap := unmap(ua.AddrPort())
	c.mu.Lock()
	started, early := c.early[ap.Addr()]
	if early && !started {
		c.early[ap.Addr()] = true
		first := append([]byte(nil), p...)
		go func() {
			_, _ = c.PacketConn.WriteTo(first, net.UDPAddrFromAddrPort(ap))
			c.mu.Lock()
			delete(c.early, ap.Addr())
			c.mu.Unlock()
		}()
	}
	c.mu.Unlock()
	if !early {
		return c.PacketConn.WriteTo(p, addr)
	}
	msg, err := sendIndication(p, ap)
	if err != nil {
		return 0, err
	}
	if _, err := c.client.WriteTo(msg, c.server); err != nil {
		return 0, err
	}
	return len(p), nil
}

// sendIndication is a TURN Send indication (RFC 8656 section 11) carrying p to peer.
func sendIndication(p []byte, peer netip.AddrPort) ([]byte, error) {
	m, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication),
		stun.RawAttribute{Type: stun.AttrData, Value: p}, peerAddress(peer), stun.Fingerprint)
	if err != nil {
		return nil, err
	}
	return m.Raw, nil
}

// peerAddress is an XOR-PEER-ADDRESS attribute.
type peerAddress netip.AddrPort

func (a peerAddress) AddTo(m *stun.Message) error {
	ap := netip.AddrPort(a)
	return stun.XORMappedAddress{IP: ap.Addr().AsSlice(), Port: int(ap.Port())}.AddToAs(m, stun.AttrXORPeerAddress)
}

type bufferSetter interface {
	SetReadBuffer(int) error
	SetWriteBuffer(int) error
}

func (c *relayConn) SetReadBuffer(n int) error {
	if s, ok := c.socket.(bufferSetter); ok {
		return s.SetReadBuffer(n)
	}
	return nil
}

func (c *relayConn) SetWriteBuffer(n int) error {
	if s, ok := c.socket.(bufferSetter); ok {
		return s.SetWriteBuffer(n)
	}
	return nil
}
