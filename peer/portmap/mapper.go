package portmap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// Protocol is a port-mapping protocol.
type Protocol int

const (
	// None is no protocol: no mapping (yet).
	None Protocol = iota
	// PCP is the Port Control Protocol (RFC 6887).
	PCP
	// NATPMP is NAT-PMP (RFC 6886), PCP's predecessor.
	NATPMP
	// UPnP is UPnP-IGD (WANIPConnection or WANPPPConnection).
	UPnP
)

// String names the protocol as logs and status show it.
func (p Protocol) String() string {
	switch p {
	case None:
		return "none"
	case PCP:
		return "PCP"
	case NATPMP:
		return "NAT-PMP"
	case UPnP:
		return "UPnP-IGD"
	}
	return fmt.Sprintf("Protocol(%d)", int(p))
}

// Defaults of Config.
const (
	DefaultLifetime = 2 * time.Hour // RFC 6886's recommendation
	DefaultTimeout  = 500 * time.Millisecond
	releaseTimeout  = time.Second
	maxRetry        = 30 * time.Second
	minRetry        = 2 * time.Second
)

// Config says what to map and how. The zero value of every field but Port is a safe
// default.
type Config struct {
	// Port is the local UDP port to map: the peer's one socket.
	Port uint16
	// Gateway is the router to ask. Zero means the default IPv4 gateway.
	Gateway netip.Addr
	// Protocols lists the protocols to try, in order, until one maps the port. Nil
	// means PCP, NAT-PMP, UPnP.
	Protocols []Protocol
	// Lifetime is the lifetime asked for (the gateway may grant less or more, within
	// 4 s and 7 days). Zero means DefaultLifetime.
	Lifetime time.Duration
	// Timeout bounds each protocol's first attempt (UPnP gets twice as long: it
	// needs an SSDP exchange and three HTTP requests). Zero means DefaultTimeout, so a
	// network without any of the protocols costs at most 2 s at start.
	Timeout time.Duration
	// Description names the mapping in the gateway's UPnP table. Empty means "kith".
	Description string
	// Logger gets one line per outcome an operator cares about. Nil discards.
	Logger *slog.Logger
	// Within, when set, runs f on a thread where the mapper's sockets must be made and
	// its routing table read: a test runs the mapper inside a lab namespace with it.
	Within func(f func() error) error

	// pmpPort and ssdpPort replace the gateway's well-known ports in tests (0: 5351
	// and 1900), so a hostile gateway can be played on loopback without root.
	pmpPort, ssdpPort uint16
}

func (c *Config) gatewayPort() uint16 {
	if c.pmpPort != 0 {
		return c.pmpPort
	}
	return gatewayPort
}

func (c *Config) ssdp() uint16 {
	if c.ssdpPort != 0 {
		return c.ssdpPort
	}
	return ssdpPort
}

func (c *Config) within(f func() error) error {
	if c.Within == nil {
		return f()
	}
	return c.Within(f)
}

func (c *Config) description() string {
	if c.Description == "" {
		return "kith"
	}
	return c.Description
}

// client keeps one mapping with one protocol.
type client interface {
	// mapPort creates the mapping, or renews it (same external port if it can).
	mapPort(ctx context.Context, lifetime time.Duration) (Mapping, error)
	// unmap deletes the mapping.
	unmap(ctx context.Context) error
}

// Mapper keeps one port mapping for one local UDP port. It implements the
// PortMapper interface that peer/reach consumes: External() (netip.AddrPort, bool).
type Mapper struct {
	cfg    Config
	log    *slog.Logger
	cancel context.CancelFunc
	ready  chan struct{} // closed when the first attempt has ended
	done   chan struct{} // closed when run has ended (the mapping released)

	mu      sync.Mutex // guards proto, cur, expires, err
	proto   Protocol
	cur     Mapping
	expires time.Time
	err     error
}

// Start starts keeping a mapping for cfg.Port in the background: it tries the
// protocols in order (each bounded by cfg.Timeout), then renews at half the granted
// lifetime until ctx ends or Close. When no protocol works it logs why once and does
// nothing more. Ready tells when the first attempt is over.
func Start(ctx context.Context, cfg Config) *Mapper {
	if cfg.Protocols == nil {
		cfg.Protocols = []Protocol{PCP, NATPMP, UPnP}
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = DefaultLifetime
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	m := &Mapper{cfg: cfg, log: log.With("port", cfg.Port), cancel: cancel,
		ready: make(chan struct{}), done: make(chan struct{})}
	go m.run(ctx)
	return m
}

// Ready is closed when the first attempt has ended, with or without a mapping.
func (m *Mapper) Ready() <-chan struct{} { return m.ready }

// External returns the public address that reaches the local port, while a mapping is
// held and not expired.
func (m *Mapper) External() (netip.AddrPort, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proto == None || !time.Now().Before(m.expires) {
		return netip.AddrPort{}, false
	}
	return m.cur.External, true
}

// Protocol returns the protocol that made the mapping, None without one.
func (m *Mapper) Protocol() Protocol {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.proto
}

// Err returns why the last attempt failed, nil after a success.
func (m *Mapper) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Close releases the mapping (waiting at most a second for the gateway) and stops.
func (m *Mapper) Close() error {
	m.cancel()
	<-m.done
	return nil
}

func (m *Mapper) set(p Protocol, mp Mapping, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
	if err == nil {
		m.proto, m.cur, m.expires = p, mp, time.Now().Add(mp.Lifetime)
	}
}

// expire forgets a mapping whose lifetime has passed without a renewal.
func (m *Mapper) expire() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.proto, m.cur = None, Mapping{}
}

func (m *Mapper) run(ctx context.Context) {
	defer close(m.done)
	c, proto, mp, err := m.first(ctx)
	m.set(proto, mp, err)
	close(m.ready)
	if err != nil {
		m.log.Info("portmap: no port mapping; peers reach this port only by hole punching or relay", "err", err)
		return
	}
	m.log.Info("portmap: mapped", "protocol", proto, "external", mp.External, "lifetime", mp.Lifetime)
	m.keep(ctx, c, proto, mp)
	m.expire() // from now on nobody may publish the address, released or not
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := c.unmap(rctx); err != nil {
		m.log.Warn("portmap: release failed; the gateway drops the mapping when its lifetime ends", "protocol", proto, "err", err)
		return
	}
	m.log.Info("portmap: released", "protocol", proto, "external", mp.External)
}

// first tries each protocol in order and returns the first that maps the port.
func (m *Mapper) first(ctx context.Context) (client, Protocol, Mapping, error) {
	if m.cfg.Port == 0 {
		return nil, None, Mapping{}, ErrNoPort
	}
	gw := m.cfg.Gateway
	if !gw.IsValid() {
		err := m.cfg.within(func() (err error) {
			gw, err = defaultGateway()
			return err
		})
		if err != nil {
			return nil, None, Mapping{}, err
		}
	}
	var errs []error
	for _, p := range m.cfg.Protocols {
		var c client
		timeout := m.cfg.Timeout
		switch p {
		case PCP:
			c = newPCP(&m.cfg, gw)
		case NATPMP:
			c = &natpmpClient{cfg: &m.cfg, gw: gw}
		case UPnP:
			c, timeout = newUPnP(&m.cfg, gw), 2*timeout
		default:
			return nil, None, Mapping{}, fmt.Errorf("portmap: unknown protocol %v", p)
		}
		actx, cancel := context.WithTimeout(ctx, timeout)
		mp, err := c.mapPort(actx, m.cfg.Lifetime)
		cancel()
		if err == nil {
			return c, p, mp, nil
		}
		m.log.Debug("portmap: protocol failed", "protocol", p, "gateway", gw, "err", err)
		if errors.Is(err, ErrNotPublic) {
			// The gateway did map the port: take the useless mapping back.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
			_ = c.unmap(rctx)
			cancel()
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, None, Mapping{}, fmt.Errorf("gateway %s: %w", gw, errors.Join(errs...))
}

// keep renews the mapping at half its lifetime until ctx ends. A failed renewal is
// retried sooner (half the time left, 2 to 30 s apart); a mapping whose lifetime ends
// without a renewal stops being reported, and renewals go on (the gateway may be back).
func (m *Mapper) keep(ctx context.Context, c client, proto Protocol, mp Mapping) {
	expires := time.Now().Add(mp.Lifetime)
	wait := mp.Lifetime / 2
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 2*m.cfg.Timeout)
		next, err := c.mapPort(rctx, m.cfg.Lifetime)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if next.External != mp.External {
				m.log.Info("portmap: external address changed", "protocol", proto, "from", mp.External, "to", next.External)
			}
			m.set(proto, next, nil)
			mp, expires, wait = next, time.Now().Add(next.Lifetime), next.Lifetime/2
			continue
		}
		m.set(proto, mp, err)
		left := time.Until(expires)
		if left <= 0 {
			m.expire()
			m.log.Warn("portmap: mapping expired; gateway does not renew it", "protocol", proto, "err", err)
			left = 2 * maxRetry
		} else {
			m.log.Warn("portmap: renewal failed; retrying", "protocol", proto, "left", left.Round(time.Second), "err", err)
		}
		wait = min(max(left/2, minRetry), maxRetry)
	}
}
