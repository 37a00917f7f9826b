package portmap

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// natpmpClient keeps one NAT-PMP mapping.
type natpmpClient struct {
	cfg  *Config
	gw   netip.Addr
	last uint16 // the external port granted last, suggested on renewal
}

func (c *natpmpClient) mapPort(ctx context.Context, want time.Duration) (Mapping, error) {
	conn, err := c.cfg.dialUDP(netip.AddrPortFrom(c.gw, c.cfg.gatewayPort()))
	if err != nil {
		return Mapping{}, err
	}
	defer conn.Close()
	var addr netip.Addr
	err = exchange(ctx, conn, natpmpAddrRequest(), func(b []byte) (err error) {
		addr, err = parseNATPMPAddr(b)
		return err
	})
	if err != nil {
		return Mapping{}, fmt.Errorf("NAT-PMP external address: %w", err)
	}
	suggest := c.last
	if suggest == 0 {
		suggest = c.cfg.Port
	}
	var ans natpmpAnswer
	err = exchange(ctx, conn, natpmpMapRequest(c.cfg.Port, suggest, uint32(want/time.Second)), func(b []byte) (err error) {
		ans, err = parseNATPMPMap(b, c.cfg.Port)
		return err
	})
	if err != nil {
		return Mapping{}, fmt.Errorf("NAT-PMP: %w", err)
	}
	life, err := lifetime(ans.Lifetime)
	if err != nil {
		return Mapping{}, fmt.Errorf("NAT-PMP: %w", err)
	}
	ext, err := external(addr, ans.External)
	if err != nil {
		return Mapping{}, fmt.Errorf("NAT-PMP: %w", err)
	}
	c.last = ans.External
	return Mapping{External: ext, Lifetime: life}, nil
}

func (c *natpmpClient) unmap(ctx context.Context) error {
	conn, err := c.cfg.dialUDP(netip.AddrPortFrom(c.gw, c.cfg.gatewayPort()))
	if err != nil {
		return err
	}
	defer conn.Close()
	// RFC 6886 section 3.4: a deletion gives external port 0 and lifetime 0.
	err = exchange(ctx, conn, natpmpMapRequest(c.cfg.Port, 0, 0), func(b []byte) error {
		_, err := parseNATPMPMap(b, c.cfg.Port)
		return err
	})
	if err != nil {
		return fmt.Errorf("NAT-PMP: %w", err)
	}
	return nil
}
