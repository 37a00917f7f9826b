package public

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// RemoteIP is the default Config.ClientAddr: the request's peer IP, with IPv6 addresses
// grouped by their /64, which one subscriber usually holds whole.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return group(host)
}

// ForwardedFor returns a Config.ClientAddr for a node behind reverse proxies: when the
// request comes from one of trusted, the client is the rightmost X-Forwarded-For address
// that is not itself a trusted proxy; otherwise it is RemoteIP. Addresses a client wrote
// to the left of the proxies' own are never believed.
func ForwardedFor(trusted ...netip.Prefix) func(*http.Request) string {
	isTrusted := func(s string) bool {
		ip, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return false
		}
		for _, p := range trusted {
			if p.Contains(ip.Unmap()) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) string {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil || !isTrusted(host) {
			return RemoteIP(r)
		}
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop := strings.TrimSpace(hops[i])
			if hop == "" || isTrusted(hop) {
				continue
			}
			if _, err := netip.ParseAddr(hop); err != nil {
				break // garbage: fall back to the proxy itself
			}
			return group(hop)
		}
		return RemoteIP(r)
	}
}

// group names an address for the rate limit: IPv4 as is, IPv6 by its /64.
func group(host string) string {
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
