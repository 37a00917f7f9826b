package nat

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/kithnet/kith/shared/bufpool"
)

// MuxConfig configures a Mux. The zero value is usable.
type MuxConfig struct {
	// Logger receives debug messages about dropped datagrams. Nil: discard.
	Logger *slog.Logger
	// QueueLen is how many datagrams wait for QUIC (and for each diverted
	// address) before more are dropped. Zero: 1024.
	QueueLen int
}

// Mux shares one UDP socket between QUIC, STUN, punch packets and a TURN client.
// Every datagram is routed, in this order:
//
//  1. a STUN response to a Binding this Mux is waiting for goes to it;
//  2. anything from an address given to Divert goes to that PacketConn
//     (a TURN server's STUN messages and ChannelData);
//  3. a punch packet is answered or handed to the Punch that waits for it;
//  4. a datagram with the QUIC fixed bit set goes to PacketConn;
//  5. anything else is dropped.
type Mux struct {
	conn *net.UDPConn
	log  *slog.Logger
	qlen int
	quic *queueConn
	done chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	bindings map[[12]byte]chan netip.AddrPort
	sessions map[[8]byte]*session
	diverts  map[netip.AddrPort]*queueConn
}

// NewMux starts demultiplexing conn. Close stops it and closes conn.
func NewMux(conn *net.UDPConn, cfg MuxConfig) *Mux {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 1024
	}
	m := &Mux{conn: conn, log: cfg.Logger, qlen: cfg.QueueLen, done: make(chan struct{}),
		bindings: map[[12]byte]chan netip.AddrPort{}, sessions: map[[8]byte]*session{},
		diverts: map[netip.AddrPort]*queueConn{}}
	m.quic = newQueueConn(m, cfg.QueueLen, nil)
	m.wg.Add(1)
	go m.read()
	return m
}

// PacketConn is the socket as QUIC sees it (quic.Transport{Conn: m.PacketConn()}):
// it reads only QUIC datagrams and writes to the shared socket.
func (m *Mux) PacketConn() net.PacketConn { return m.quic }

// LocalAddr is the shared socket's address: the peer's host candidate when it is
// bound to a specific interface address.
func (m *Mux) LocalAddr() netip.AddrPort {
	return unmap(m.conn.LocalAddr().(*net.UDPAddr).AddrPort())
}

// WriteTo sends a datagram from the shared socket.
func (m *Mux) WriteTo(p []byte, addr net.Addr) (int, error) { return m.conn.WriteTo(p, addr) }

// Divert returns a PacketConn that receives every datagram from `from` that no
// Binding of this Mux waits for: what a TURN client on the shared socket needs.
// Closing it ends the diversion. A second Divert of the same address replaces the first.
func (m *Mux) Divert(from netip.AddrPort) net.PacketConn {
	from = unmap(from)
	var c *queueConn
	c = newQueueConn(m, m.qlen, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.diverts[from] == c {
			delete(m.diverts, from)
		}
	})
	m.mu.Lock()
	m.diverts[from] = c
	m.mu.Unlock()
	return c
}

// Close stops the Mux, closes the socket and waits for the reader to end.
func (m *Mux) Close() error {
	select {
	case <-m.done:
		return nil
	default:
	}
	close(m.done)
	err := m.conn.Close()
	m.wg.Wait()
	return err
}

// read is the Mux's one reader; it owns no other goroutine.
func (m *Mux) read() {
	defer m.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := m.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-m.done:
				return
			default:
			}
			// ICMP errors surface as read errors on Linux; they are not fatal.
			m.log.Debug("nat: read", "err", err)
			time.Sleep(time.Millisecond)
			continue
		}
		m.route(buf[:n], unmap(from))
	}
}

// route hands b, which the next read overwrites, to where it goes: the queues get a
// copy of their own, the rest is handled before route returns.
func (m *Mux) route(b []byte, from netip.AddrPort) {
	class := Classify(b)
	if class == STUN && m.deliverBinding(b) {
		return
	}
	m.mu.Lock()
	d := m.diverts[from]
	m.mu.Unlock()
	// An if per way, not a tagless switch, so that gremlins can see these are tested.
	if d != nil {
		d.deliver(bufpool.Copy(b), net.UDPAddrFromAddrPort(from))
		return
	}
	if class == Punch {
		m.handlePunch(b, from)
		return
	}
	if class == QUIC {
		m.quic.deliver(bufpool.Copy(b), net.UDPAddrFromAddrPort(from))
		return
	}
	m.log.Debug("nat: dropped datagram", "from", from, "len", len(b), "class", class)
}

// unmap turns an IPv4-mapped IPv6 address into plain IPv4, so addresses compare.
func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// HostCandidates lists the host's own unicast addresses (not loopback, not
// link-local) with port: the host candidates of a socket bound to all interfaces.
func HostCandidates(port uint16) ([]netip.AddrPort, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("nat: host candidates: %w", err)
	}
	var out []netip.AddrPort
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := p.Addr().Unmap()
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
			continue
		}
		out = append(out, netip.AddrPortFrom(ip, port))
	}
	return out, nil
}
