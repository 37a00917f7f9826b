package nat

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"
)

// WriteTTL sends b from the shared socket to `to` with a per-packet TTL (IPv4) or hop
// limit (IPv6), as ancillary data: an opener packet that crosses this host's own NATs
// and firewalls, opening them, and dies before it reaches the far side's router.
func (m *Mux) WriteTTL(b []byte, to netip.AddrPort, ttl int) error {
	to = unmap(to)
	oob := ttlCmsg(to.Addr().Is4(), ttl)
	dst := to
	if m.is6() && to.Addr().Is4() {
		dst = netip.AddrPortFrom(netip.AddrFrom16(to.Addr().As16()), to.Port())
	}
	_, _, err := m.conn.WriteMsgUDPAddrPort(b, oob, dst)
	return err
}

// is6 reports whether the shared socket is an IPv6 (dual-stack) one.
func (m *Mux) is6() bool {
	a := m.conn.LocalAddr().(*net.UDPAddr)
	return a.IP.To4() == nil
}

// ttlCmsg is one control message setting the TTL (v4) or hop limit (v6), an int.
func ttlCmsg(v4 bool, ttl int) []byte {
	b := make([]byte, syscall.CmsgSpace(4))
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
	if v4 {
		h.Level, h.Type = syscall.IPPROTO_IP, syscall.IP_TTL
	} else {
		h.Level, h.Type = syscall.IPPROTO_IPV6, syscall.IPV6_HOPLIMIT
	}
	h.SetLen(syscall.CmsgLen(4))
	binary.NativeEndian.PutUint32(b[syscall.CmsgLen(0):], uint32(ttl))
	return b
}

// ErrNoHops means no hop on the way answered a probe with an ICMP time exceeded.
var ErrNoHops = errors.New("nat: no hop answered a TTL probe")

// inside are the address ranges of a NAT's inside: RFC 1918, the carrier-grade shared
// space (RFC 6598), IPv6 unique-local and link-local.
var inside = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("fc00::/7"), netip.MustParsePrefix("fe80::/10"),
}

// Inside reports whether a is an address of a NAT's inside (private or shared space).
func Inside(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range inside {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// OpenerTTL is the TTL an opener needs given the hops that lie inside this host's own
// NATs (NATDepth): one more than them, so the packet crosses the outermost NAT and dies
// at the next router; never less than 2 (a stateful firewall on the first router).
func OpenerTTL(depth int) int { return max(2, depth+1) }

// NATDepth measures how many hops of the way to `to` lie inside this host's NATs: it
// sends UDP probes with TTL 1, 2, ... maxHops from a socket of its own (routing, and so
// the NATs crossed, do not depend on the port) and reads each hop's ICMP time exceeded
// from the socket's error queue (IP_RECVERR, no privilege needed). The depth is the
// number of leading hops whose address is inside (Inside): a home router answers from
// its LAN address, a carrier-grade NAT from shared space, the first router past the
// outermost NAT from a public address. Only IPv4 is measured.
func NATDepth(ctx context.Context, to netip.AddrPort, maxHops int) (int, error) {
	to = unmap(to)
	if !to.Addr().Is4() {
		return 0, fmt.Errorf("nat: hop count: %s is not IPv4", to)
	}
	c, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return 0, fmt.Errorf("nat: hop count: %w", err)
	}
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_RECVERR, 1)
	}); err != nil || serr != nil {
		return 0, fmt.Errorf("nat: hop count: IP_RECVERR: %v %v", err, serr)
	}
	depth, answered := 0, false
	for ttl := 1; ttl <= maxHops; ttl++ {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		hop, reached, err := probeHop(c, rc, to, ttl)
		if err != nil || reached {
			break // no answer (a silent router) or at the destination: stop counting
		}
		answered = true
		if !Inside(hop) {
			break
		}
		depth++
	}
	if !answered {
		return 0, ErrNoHops
	}
	return depth, nil
}

// probeHop sends one probe with ttl and waits (up to 500 ms) for the ICMP error it
// causes: the address of the hop that dropped it, or reached when the destination
// itself answered (port unreachable).
func probeHop(c *net.UDPConn, rc syscall.RawConn, to netip.AddrPort, ttl int) (hop netip.Addr, reached bool, err error) {
	_, _, err = c.WriteMsgUDPAddrPort([]byte("kith hop probe"), ttlCmsg(true, ttl), to)
	if err != nil {
		return netip.Addr{}, false, err
	}
	deadline := time.Now().Add(500 * time.Millisecond)
	c.SetReadDeadline(deadline)
	buf, oob := make([]byte, 512), make([]byte, 512)
	for time.Now().Before(deadline) {
		var n, oobn int
		var rerr error
		err = rc.Read(func(fd uintptr) bool {
			n, oobn, _, _, rerr = syscall.Recvmsg(int(fd), buf, oob, syscall.MSG_ERRQUEUE)
			return rerr != syscall.EAGAIN
		})
		_ = n
		if err != nil {
			return netip.Addr{}, false, err
		}
		if rerr != nil {
			// A plain read of the queued error (ECONNREFUSED, EHOSTUNREACH) may come
			// first on some kernels; drain it and read the queue again.
			continue
		}
		if h, kind, ok := parseRecvErr(oob[:oobn]); ok {
			return h, kind == icmpUnreachable, nil
		}
	}
	return netip.Addr{}, false, ErrNoHops
}

const (
	soEEOriginICMP   = 2
	icmpUnreachable  = 3
	icmpTimeExceeded = 11
)

// parseRecvErr reads a sock_extended_err of ICMP origin and its offender from control
// messages: the address of the router (or host) that sent the ICMP error, and its type.
func parseRecvErr(oob []byte) (netip.Addr, int, bool) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return netip.Addr{}, 0, false
	}
	for _, m := range msgs {
		if m.Header.Level != syscall.IPPROTO_IP || m.Header.Type != syscall.IP_RECVERR || len(m.Data) < 16+8 {
			continue
		}
		origin, typ := m.Data[4], m.Data[5]
		if origin != soEEOriginICMP || (typ != icmpTimeExceeded && typ != icmpUnreachable) {
			continue
		}
		// struct sock_extended_err is 16 bytes; SO_EE_OFFENDER follows: a sockaddr_in.
		off := m.Data[16:]
		if binary.NativeEndian.Uint16(off[0:2]) != syscall.AF_INET {
			continue
		}
		return netip.AddrFrom4([4]byte(off[4:8])), int(typ), true
	}
	return netip.Addr{}, 0, false
}
