package nat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/pion/logging"
	"github.com/pion/turn/v2"
)

// TURNConfig says where and as whom to allocate a relay.
type TURNConfig struct {
	// Server is the TURN server's UDP address (the rendezvous' embedded one, or a coturn).
	Server netip.AddrPort
	// Username and Password are the time-limited REST credentials the rendezvous
	// hands out: username "expiry:fingerprint", password
	// base64(HMAC-SHA1(secret, username)).
	Username, Password string
	// Realm is the server's realm; empty learns it from the server's first answer.
	Realm string
	// LoggerFactory receives pion's logs; nil: pion's default (errors to stderr).
	LoggerFactory logging.LoggerFactory
	// Gate, when set, holds the authenticated Allocate request back until it closes,
	// while the unauthenticated one before it (answered with the realm and a nonce)
	// goes at once: a server that allocates only after something else happened (the
	// rendezvous, after one of our offers reached a listening peer) is asked the
	// moment it would agree, one round trip from the relay. nil: no wait.
	Gate <-chan struct{}
}

// Relay is a TURN allocation.
type Relay struct {
	// Conn carries datagrams to and from friends through the relay; QUIC runs on
	// it as on a socket. Writing to an address creates the permission it needs.
	Conn net.PacketConn
	// Addr is the relayed transport address to send to the friend as a candidate.
	Addr netip.AddrPort

	client *turn.Client
	conn   *relayConn
	under  net.PacketConn // the diverted queue, or nil on a caller's own socket
	once   sync.Once
}

// AllocateTURN allocates a relay on cfg.Server from the shared socket: everything the
// server sends is diverted to the TURN client (Divert), QUIC and punching go on beside it.
func (m *Mux) AllocateTURN(ctx context.Context, cfg TURNConfig) (*Relay, error) {
	d := m.Divert(cfg.Server)
	r, err := allocate(ctx, d, m.conn, cfg)
	if err != nil {
		d.Close()
		return nil, err
	}
	r.under = d
	return r, nil
}

// AllocateTURN allocates a relay on cfg.Server from conn, a socket of the caller's that
// nothing else reads. Closing the Relay leaves conn open.
func AllocateTURN(ctx context.Context, conn net.PacketConn, cfg TURNConfig) (*Relay, error) {
	return allocate(ctx, conn, conn, cfg)
}

// allocate runs a TURN client on conn; socket is the UDP socket under it, whose
// buffers QUIC on the relay may size.
func allocate(ctx context.Context, conn, socket net.PacketConn, cfg TURNConfig) (*Relay, error) {
	server := unmap(cfg.Server).String()
	if cfg.Gate != nil {
		conn = &gatedConn{PacketConn: conn, ctx: ctx, gate: cfg.Gate}
	}
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server, TURNServerAddr: server,
		Username: cfg.Username, Password: cfg.Password, Realm: cfg.Realm,
		Conn: conn, LoggerFactory: cfg.LoggerFactory,
	})
	if err != nil {
		return nil, fmt.Errorf("nat: TURN client for %s: %w", server, err)
	}
	if err := client.Listen(); err != nil {
		client.Close()
		return nil, fmt.Errorf("nat: TURN client for %s: %w", server, err)
	}
	type result struct {
		conn net.PacketConn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := client.Allocate()
		done <- result{c, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		client.Close() // fails the allocation's pending transaction
		res = <-done
		if res.err == nil {
			res.conn.Close()
		}
		return nil, fmt.Errorf("nat: TURN allocate on %s: %w", server, ctx.Err())
	}
	if res.err != nil {
		client.Close()
		return nil, fmt.Errorf("nat: TURN allocate on %s as %q: %w", server, cfg.Username, res.err)
	}
	relayed, ok := res.conn.LocalAddr().(*net.UDPAddr)
	if !ok {
		res.conn.Close()
		client.Close()
		return nil, errors.New("nat: TURN relayed address is not UDP")
	}
	rc := &relayConn{PacketConn: res.conn, socket: socket, client: client, server: net.UDPAddrFromAddrPort(unmap(cfg.Server)),
		early: map[netip.Addr]bool{}}
	return &Relay{Conn: rc, Addr: unmap(relayed.AddrPort()), client: client, conn: rc}, nil
}

// Permit lets the peer at addr send to us through the relay (a CreatePermission for
// its IP) without relaying it a single datagram: a datagram relayed to a router that
// takes unsolicited input would leave a conntrack entry there on exactly the tuple the
// peer's own packets to the relay need, and its NAT would move its mapping to another
// port (issue 20). A refused permission (a private address) is an error.
func (r *Relay) Permit(addr netip.AddrPort) error {
	if err := r.client.CreatePermission(net.UDPAddrFromAddrPort(unmap(addr))); err != nil {
		return err
	}
	r.conn.permitted(addr.Addr())
	return nil
}

// PermitAll is Permit for several peers in one CreatePermission request (one round
// trip whatever their number). A server refuses the whole request when it refuses any
// address in it, so a caller that cannot tell which it allows sends those apart.
func (r *Relay) PermitAll(addrs []netip.AddrPort) error {
	if len(addrs) == 0 {
		return nil
	}
	as := make([]net.Addr, len(addrs))
	for i, a := range addrs {
		as[i] = net.UDPAddrFromAddrPort(unmap(a))
	}
	if err := r.client.CreatePermission(as...); err != nil {
		return err
	}
	for _, a := range addrs {
		r.conn.permitted(a.Addr())
	}
	return nil
}

// Close releases the allocation (a refresh with lifetime 0) and stops the client.
func (r *Relay) Close() error {
	var err error
	r.once.Do(func() {
		err = r.Conn.Close()
		r.client.Close()
		if r.under != nil {
			r.under.Close()
		}
	})
	return err
}
