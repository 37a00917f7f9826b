package portmap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// ssdpPort is where a gateway answers M-SEARCH.
const ssdpPort = 1900

// upnpClient keeps one UPnP-IGD port mapping.
type upnpClient struct {
	cfg   *Config
	gw    netip.Addr
	local netip.Addr // our address on the LAN: the mapping's internal client
	svc   igdService // found on the first call
	http  *http.Client
	last  uint16 // the external port granted, asked for again on renewal
}

func newUPnP(cfg *Config, gw netip.Addr) *upnpClient {
	dialer := &net.Dialer{}
	return &upnpClient{cfg: cfg, gw: gw, http: &http.Client{
		Transport: &http.Transport{
			Proxy:             nil, // a proxy from the environment has no business here
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
				err = cfg.within(func() error {
					conn, err = dialer.DialContext(ctx, network, addr)
					return err
				})
				return conn, err
			},
		},
		// A redirect could send us anywhere; the gateway has no reason to use one.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// discover finds the gateway's WAN connection service: an M-SEARCH sent unicast to
// the gateway (answers from any other address never reach the connected socket), then
// its device description.
func (c *upnpClient) discover(ctx context.Context) error {
	conn, err := c.cfg.dialUDP(netip.AddrPortFrom(c.gw, c.cfg.ssdp()))
	if err != nil {
		return err
	}
	c.local = localAddr(conn)
	var loc string
	err = exchange(ctx, conn, ssdpSearch(), func(b []byte) error {
		u, err := parseSSDP(b, c.gw)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMismatch, err) // a junk answer: keep waiting
		}
		loc = u.String()
		return nil
	})
	conn.Close()
	if err != nil {
		return fmt.Errorf("SSDP: %w", err)
	}
	locURL, _ := onGateway(loc, nil, c.gw)
	body, err := c.get(ctx, loc)
	if err != nil {
		return err
	}
	svc, err := parseDescription(body, locURL, c.gw)
	if err != nil {
		return err
	}
	c.svc = svc
	return nil
}

// get fetches url from the gateway, at most maxDescription bytes.
func (c *upnpClient) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return c.do(req)
}

func (c *upnpClient) do(req *http.Request) ([]byte, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		if ctxExpired(req.Context()) {
			return nil, fmt.Errorf("%w: %s %s", ErrTimeout, req.Method, req.URL.Redacted())
		}
		return nil, fmt.Errorf("portmap: %s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDescription+1))
	if err != nil {
		return nil, fmt.Errorf("portmap: read %s: %w", req.URL.Redacted(), err)
	}
	if len(body) > maxDescription {
		return nil, fmt.Errorf("%w: %s answered more than %d bytes", ErrMalformed, req.URL.Redacted(), maxDescription)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusInternalServerError {
		// SOAP faults come with status 500; anything else is not an answer.
		return nil, fmt.Errorf("%w: %s answered status %d", ErrRefused, req.URL.Redacted(), resp.StatusCode)
	}
	return body, nil
}

// call runs a SOAP action of the service and returns its out arguments.
func (c *upnpClient) call(ctx context.Context, action string, args ...string) (map[string]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.svc.Control.String(),
		bytes.NewReader(soapRequest(c.svc.Type, action, args...)))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	req.Header.Set("Content-Type", `text/xml; charset="utf-8"`)
	req.Header.Set("SOAPAction", `"`+c.svc.Type+"#"+action+`"`)
	body, err := c.do(req)
	if err != nil {
		return nil, err
	}
	return parseSOAP(body, action)
}

func (c *upnpClient) mapPort(ctx context.Context, want time.Duration) (Mapping, error) {
	if c.svc.Control == nil {
		if err := c.discover(ctx); err != nil {
			return Mapping{}, fmt.Errorf("UPnP: %w", err)
		}
	}
	out, err := c.call(ctx, "GetExternalIPAddress")
	if err != nil {
		return Mapping{}, fmt.Errorf("UPnP: %w", err)
	}
	addr, err := netip.ParseAddr(out["NewExternalIPAddress"])
	if err != nil {
		return Mapping{}, fmt.Errorf("UPnP: %w: external address %q", ErrMalformed, out["NewExternalIPAddress"])
	}
	if _, err := external(addr, 1); err != nil {
		return Mapping{}, fmt.Errorf("UPnP: %w", err)
	}
	port := c.last
	if port == 0 {
		port = c.cfg.Port
	}
	lease := uint32(want / time.Second)
	port, lease, err = c.add(ctx, port, lease)
	if err != nil {
		return Mapping{}, fmt.Errorf("UPnP: %w", err)
	}
	life := want
	if lease != 0 {
		if life, err = lifetime(lease); err != nil {
			return Mapping{}, fmt.Errorf("UPnP: %w", err)
		}
	}
	ext, err := external(addr, port)
	if err != nil {
		return Mapping{}, fmt.Errorf("UPnP: %w", err)
	}
	c.last = port
	return Mapping{External: ext, Lifetime: life}, nil
}

// add asks for external port port with lease seconds and returns what it got. A
// taken port is retried once on a port the gateway picks (IGD 2) or on a random one;
// a gateway that only keeps permanent leases gets lease 0 (then we still renew at
// half our lifetime, harmlessly, and delete on Close).
func (c *upnpClient) add(ctx context.Context, port uint16, lease uint32) (uint16, uint32, error) {
	args := func(p uint16, l uint32) []string {
		return []string{"NewRemoteHost", "", "NewExternalPort", strconv.Itoa(int(p)), "NewProtocol", "UDP",
			"NewInternalPort", strconv.Itoa(int(c.cfg.Port)), "NewInternalClient", c.local.String(),
			"NewEnabled", "1", "NewPortMappingDescription", c.cfg.description(), "NewLeaseDuration", strconv.Itoa(int(l))}
	}
	_, err := c.call(ctx, "AddPortMapping", args(port, lease)...)
	var ue *upnpError
	if errors.As(err, &ue) && ue.Code == upnpOnlyPermanent {
		lease = 0
		_, err = c.call(ctx, "AddPortMapping", args(port, lease)...)
	}
	if !errors.As(err, &ue) || ue.Code != upnpConflict {
		return port, lease, err
	}
	if c.svc.Type == igdServices[0] {
		out, err := c.call(ctx, "AddAnyPortMapping", args(port, lease)...)
		if err != nil {
			return 0, 0, err
		}
		got, perr := strconv.ParseUint(out["NewReservedPort"], 10, 16)
		if perr != nil || got == 0 {
			return 0, 0, fmt.Errorf("%w: reserved port %q", ErrAbsurd, out["NewReservedPort"])
		}
		return uint16(got), lease, nil
	}
	port = uint16(1024 + rand.IntN(65536-1024))
	_, err = c.call(ctx, "AddPortMapping", args(port, lease)...)
	return port, lease, err
}

func (c *upnpClient) unmap(ctx context.Context) error {
	if c.last == 0 {
		return nil
	}
	_, err := c.call(ctx, "DeletePortMapping", "NewRemoteHost", "", "NewExternalPort", strconv.Itoa(int(c.last)), "NewProtocol", "UDP")
	if err != nil {
		return fmt.Errorf("UPnP: %w", err)
	}
	return nil
}
