package turn

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	pturn "github.com/pion/turn/v2"

	"github.com/kithnet/kith/rendezvous/metrics"
)

// Config configures the embedded STUN/TURN server.
type Config struct {
	// PacketConn is the UDP socket STUN and TURN are served on; required. Close closes it.
	PacketConn net.PacketConn
	// AltPacketConn, when set, is a second socket that serves STUN only (the
	// rendezvous' second STUN port, from which peers tell their NAT's mapping); Close
	// closes it.
	AltPacketConn net.PacketConn
	// RelayIP is the address relays are announced at (--turn-relay-ip); required for TURN.
	RelayIP net.IP
	// RelayBind is the address relay sockets are bound to; "0.0.0.0" by default.
	RelayBind string
	// Realm is the TURN realm; "kith" by default.
	Realm string
	// Secret is the REST-API shared secret; empty serves STUN only and refuses every
	// allocation.
	Secret string
	// AllowPrivate permits relaying to the addresses PeerAllowed refuses (tests, labs).
	AllowPrivate bool
	// Quota is the most allocations one user may hold at once; 8 by default.
	Quota int
	// PerIP is the most allocations one client address may hold at once, whatever keys
	// it uses; 4 by default.
	PerIP int
	// Total is the most allocations the server holds at once; 1024 by default.
	Total int
	// Grants, when set, limits allocations to clients the rendezvous just connected to a
	// listening peer, and relaying to that peer's addresses (grants.go). Only tests of
	// the TURN server alone leave it nil.
	Grants *Grants
	// Now is the clock for credential expiry; time.Now when nil.
	Now func() time.Time
	// Logger receives structured logs; slog.Default() when nil.
	Logger *slog.Logger
	// Metrics counts allocations; nil records nothing.
	Metrics *metrics.Metrics
}

// Server is a running STUN/TURN server.
type Server struct {
	cfg    Config
	srv    *pturn.Server
	alt    *pturn.Server // STUN only on AltPacketConn; nil without one
	mu     sync.Mutex
	last   string             // guards last..total; user of the request being handled (pion handles one socket serially)
	lastIP netip.Addr         // and its client address
	held   map[string]int     // allocations per user
	heldIP map[netip.Addr]int // allocations per client address
	total  int                // allocations held
}

// Start serves STUN and TURN on cfg.PacketConn until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.PacketConn == nil {
		return nil, errors.New("turn: Config.PacketConn is required")
	}
	if cfg.RelayIP == nil {
		cfg.RelayIP = net.IPv4(127, 0, 0, 1)
	}
	if cfg.RelayBind == "" {
		cfg.RelayBind = "0.0.0.0"
	}
	if cfg.Realm == "" {
		cfg.Realm = "kith"
	}
	if cfg.Quota == 0 {
		cfg.Quota = 8
	}
	if cfg.PerIP == 0 {
		cfg.PerIP = 4
	}
	if cfg.Total == 0 {
		cfg.Total = 1024
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, held: map[string]int{}, heldIP: map[netip.Addr]int{}}
	growBuffers(cfg.PacketConn, mainBuffer)
	cfg.PacketConn = batched(cfg.PacketConn) // Close closes the socket
	srv, err := pturn.NewServer(pturn.ServerConfig{
		Realm:         cfg.Realm,
		AuthHandler:   s.auth,
		LoggerFactory: slogFactory{cfg.Logger},
		PacketConnConfigs: []pturn.PacketConnConfig{{
			PacketConn: cfg.PacketConn,
			RelayAddressGenerator: &quotaGenerator{s: s, RelayAddressGenerator: &pturn.RelayAddressGeneratorStatic{
				RelayAddress: cfg.RelayIP, Address: cfg.RelayBind,
			}},
			PermissionHandler: s.permit,
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("turn: %w", err)
	}
	s.srv = srv
	if cfg.AltPacketConn != nil {
		// STUN only: a server of its own whose every allocation is refused, so the
		// quota bookkeeping (one socket, handled serially) stays with the main one.
		alt, err := pturn.NewServer(pturn.ServerConfig{
			Realm:         cfg.Realm,
			AuthHandler:   func(string, string, net.Addr) ([]byte, bool) { return nil, false },
			LoggerFactory: slogFactory{cfg.Logger},
			PacketConnConfigs: []pturn.PacketConnConfig{{PacketConn: cfg.AltPacketConn,
				RelayAddressGenerator: &pturn.RelayAddressGeneratorStatic{RelayAddress: cfg.RelayIP, Address: cfg.RelayBind}}},
		})
		if err != nil {
			srv.Close()
			return nil, fmt.Errorf("turn: second STUN port: %w", err)
		}
		s.alt = alt
	}
	return s, nil
}

// Close stops the server and closes its sockets and relays.
func (s *Server) Close() error {
	if s.alt != nil {
		s.alt.Close()
	}
	return s.srv.Close()
}

// Allocations returns how many allocations are alive.
func (s *Server) Allocations() int { return s.srv.AllocationCount() }

// auth answers pion with the long-term key for a REST-API username.
func (s *Server) auth(username, realm string, src net.Addr) ([]byte, bool) {
	if s.cfg.Secret == "" {
		return nil, false
	}
	user, err := ParseUsername(username, s.cfg.Now())
	if err != nil {
		s.cfg.Logger.Info("turn: refused", "client_ip", addrIP(src).String(), "err", err)
		s.cfg.Metrics.Refused("turn_credentials")
		return nil, false
	}
	s.mu.Lock()
	s.last, s.lastIP = user, addrIP(src)
	s.mu.Unlock()
	return pturn.GenerateAuthKey(username, realm, Password(s.cfg.Secret, username)), true
}

// permit applies the peer-address policy to CreatePermission and ChannelBind: only
// towards a peer the client's grants name, and never a private one unless allowed. Logs
// name the client's IP, never its port: IP and port are the peer's reflexive candidate,
// which the rendezvous keeps sealed and must not write down.
func (s *Server) permit(client net.Addr, peer net.IP) bool {
	ip, _ := netip.AddrFromSlice(peer)
	if s.cfg.Grants != nil && !s.cfg.Grants.MayRelay(addrIP(client), ip) {
		s.cfg.Logger.Info("turn: refused permission", "client_ip", addrIP(client).String(), "err", ErrNotGranted)
		s.cfg.Metrics.Refused("turn_not_granted")
		return false
	}
	if s.cfg.AllowPrivate {
		return true
	}
	if err := PeerAllowed(ip); err != nil {
		s.cfg.Logger.Info("turn: refused permission", "client_ip", addrIP(client).String(), "err", err)
		s.cfg.Metrics.Refused("turn_private_peer")
		return false
	}
	return true
}

// quotaGenerator charges each relay to the user whose request is being handled, and
// releases the charge when pion closes the relay.
type quotaGenerator struct {
	pturn.RelayAddressGenerator
	s *Server
}

func (g *quotaGenerator) AllocatePacketConn(network string, port int) (net.PacketConn, net.Addr, error) {
	s := g.s
	s.mu.Lock()
	user, ip := s.last, s.lastIP
	if err := s.admitLocked(user, ip); err != nil {
		s.mu.Unlock()
		s.cfg.Logger.Info("turn: refused allocation", "client", ip.String(), "err", err)
		return nil, nil, err
	}
	s.held[user]++
	s.heldIP[ip]++
	s.total++
	s.mu.Unlock()
	conn, addr, err := g.RelayAddressGenerator.AllocatePacketConn(network, port)
	if err != nil {
		s.release(user, ip)
		return nil, nil, err
	}
	growBuffers(conn, relayBuffer)
	conn = batched(conn)
	s.cfg.Metrics.Allocated()
	return &relayConn{PacketConn: conn, release: func() { s.release(user, ip); s.cfg.Metrics.Released() }}, addr, nil
}

// admitLocked decides whether user at ip may allocate one more relay.
func (s *Server) admitLocked(user string, ip netip.Addr) error {
	switch {
	case s.cfg.Grants != nil && !s.cfg.Grants.MayAllocate(ip):
		s.cfg.Metrics.Refused("turn_not_granted")
		return ErrNotGranted
	case s.total >= s.cfg.Total:
		s.cfg.Metrics.Refused("turn_total")
		return fmt.Errorf("%w (%d)", ErrFull, s.cfg.Total)
	case s.heldIP[ip] >= s.cfg.PerIP:
		s.cfg.Metrics.Refused("turn_quota_ip")
		return fmt.Errorf("%w (%d)", ErrQuotaIP, s.cfg.PerIP)
	case s.held[user] >= s.cfg.Quota:
		s.cfg.Metrics.Refused("turn_quota")
		return fmt.Errorf("%w (%d)", ErrQuota, s.cfg.Quota)
	}
	return nil
}

func (s *Server) release(user string, ip netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[user]--; s.held[user] <= 0 {
		delete(s.held, user)
	}
	if s.heldIP[ip]--; s.heldIP[ip] <= 0 {
		delete(s.heldIP, ip)
	}
	s.total--
}

// addrIP is the IP of a UDP or TCP address; invalid for anything else.
func addrIP(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// relayConn releases its quota charge once, when closed.
type relayConn struct {
	net.PacketConn
	once    sync.Once
	release func()
}

func (c *relayConn) Close() error {
	c.once.Do(c.release)
	return c.PacketConn.Close()
}
