package portmap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// firstRetransmit is the wait before the first resend of a request; each later wait
// doubles. RFC 6886 starts at 250 ms too; PCP's 3 s would blow our start budget.
const firstRetransmit = 250 * time.Millisecond

// dialUDP opens a UDP socket connected to addr, made where cfg says: the kernel then
// drops datagrams from any other source, and an ICMP "port unreachable" from the
// gateway ends the wait at once instead of at the timeout.
func (c *Config) dialUDP(addr netip.AddrPort) (*net.UDPConn, error) {
	var conn *net.UDPConn
	err := c.within(func() (err error) {
		conn, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(addr))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("portmap: socket to %s: %w", addr, err)
	}
	return conn, nil
}

// localAddr is the host's own IPv4 address towards the gateway.
func localAddr(conn *net.UDPConn) netip.Addr {
	return conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
}

// exchange sends req on conn, resending at growing intervals, until accept takes an
// answer or ctx ends. Answers accept calls malformed or mismatched are ignored (a
// late answer to an earlier request, or junk) and the wait goes on; any other error
// of accept ends it. A closed port at the gateway is ErrUnsupported at once.
func exchange(ctx context.Context, conn *net.UDPConn, req []byte, accept func([]byte) error) error {
	buf := make([]byte, 1500)
	wait := firstRetransmit
	var ignored error
	for {
		if _, err := conn.Write(req); err != nil {
			return classify(err)
		}
		deadline := time.Now().Add(wait)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		wait *= 2
		_ = conn.SetReadDeadline(deadline)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return classify(err)
			}
			err = accept(buf[:n])
			if err == nil {
				return nil
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrMismatch) {
				return err
			}
			ignored = err
		}
		if ctxExpired(ctx) {
			if ignored != nil {
				return fmt.Errorf("%w (ignored: %v)", ErrTimeout, ignored)
			}
			return ErrTimeout
		}
	}
}

// ctxExpired reports whether ctx's deadline has passed.
func ctxExpired(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ctx.Err() != nil || ok && !time.Now().Before(d)
}

// classify turns a socket error into this package's errors.
func classify(err error) error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w: nothing listens on the gateway's port", ErrUnsupported)
	}
	return fmt.Errorf("portmap: %w", err)
}
