package portmap

import (
	"fmt"
	"net/netip"
	"time"
)

// Bounds on what a gateway may grant. A lifetime under minLifetime would have us
// renew in a tight loop; one over maxLifetime is a bug or a lie; either way the
// answer is refused rather than trusted.
const (
	minLifetime = 4 * time.Second
	maxLifetime = 7 * 24 * time.Hour
)

// Mapping is what a gateway granted: the public address and port that reach the local
// socket, and for how long.
type Mapping struct {
	// External is the public address and port.
	External netip.AddrPort
	// Lifetime is how long the gateway keeps the mapping without a renewal.
	Lifetime time.Duration
}

// lifetime checks a granted lifetime in seconds.
func lifetime(secs uint32) (time.Duration, error) {
	d := time.Duration(secs) * time.Second
	if d < minLifetime || d > maxLifetime {
		return 0, fmt.Errorf("%w: lifetime %ds (want %v to %v)", ErrAbsurd, secs, minLifetime, maxLifetime)
	}
	return d, nil
}

// reserved lists the IPv4 ranges the internet cannot route to a home: what
// miniupnpd itself refuses as an external address, and more.
var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("192.88.99.0/24"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("224.0.0.0/3"), // multicast, class E and broadcast
}

// external checks a granted external address: an IPv4 address and port a peer on the
// internet can send to. An address that cannot be one at all is ErrAbsurd; a private or
// carrier-grade one (a gateway behind another NAT) is ErrNotPublic.
func external(addr netip.Addr, port uint16) (netip.AddrPort, error) {
	addr = addr.Unmap()
	ap := netip.AddrPortFrom(addr, port)
	if !addr.Is4() || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: external address %s", ErrAbsurd, ap)
	}
	for _, p := range reserved {
		if p.Contains(addr) {
			return netip.AddrPort{}, fmt.Errorf("%w: %s (in %s)", ErrNotPublic, addr, p)
		}
	}
	return ap, nil
}
