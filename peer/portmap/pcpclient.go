package portmap

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"
	"time"
)

// gatewayPort is where PCP and NAT-PMP servers listen.
const gatewayPort = 5351

// pcpClient keeps one PCP mapping. Its nonce ties renewals and the release to the
// mapping; the gateway refuses a renewal with another nonce.
type pcpClient struct {
	cfg   *Config
	gw    netip.Addr
	nonce [12]byte
	last  netip.AddrPort // the external address granted last, suggested on renewal
}

func newPCP(cfg *Config, gw netip.Addr) *pcpClient {
	c := &pcpClient{cfg: cfg, gw: gw}
	_, _ = rand.Read(c.nonce[:])
	return c
}

func (c *pcpClient) request(ctx context.Context, lifetime uint32) (pcpAnswer, error) {
	conn, err := c.cfg.dialUDP(netip.AddrPortFrom(c.gw, c.cfg.gatewayPort()))
	if err != nil {
		return pcpAnswer{}, err
	}
	defer conn.Close()
	req := pcpMapRequest(localAddr(conn), c.nonce, c.cfg.Port, c.last, lifetime)
	var ans pcpAnswer
	err = exchange(ctx, conn, req, func(b []byte) (err error) {
		ans, err = parsePCPMap(b, c.nonce, c.cfg.Port)
		return err
	})
	return ans, err
}

func (c *pcpClient) mapPort(ctx context.Context, want time.Duration) (Mapping, error) {
	ans, err := c.request(ctx, uint32(want/time.Second))
	if err != nil {
		return Mapping{}, fmt.Errorf("PCP: %w", err)
	}
	life, err := lifetime(ans.Lifetime)
	if err != nil {
		return Mapping{}, fmt.Errorf("PCP: %w", err)
	}
	ext, err := external(ans.External.Addr(), ans.External.Port())
	if err != nil {
		return Mapping{}, fmt.Errorf("PCP: %w", err)
	}
	c.last = ext
	return Mapping{External: ext, Lifetime: life}, nil
}

func (c *pcpClient) unmap(ctx context.Context) error {
	if _, err := c.request(ctx, 0); err != nil {
		return fmt.Errorf("PCP: %w", err)
	}
	return nil
}
