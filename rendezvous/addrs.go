package rendezvous

import (
	"net"
	"strconv"
)

// relayIP is the IP relays are announced at.
func relayIP(cfg Config, stun net.Addr) net.IP {
	if ip := net.ParseIP(cfg.TURNRelayIP); ip != nil {
		return ip
	}
	if u, ok := stun.(*net.UDPAddr); ok && !u.IP.IsUnspecified() {
		return u.IP
	}
	return net.IPv4(127, 0, 0, 1)
}

// relayBind binds relay sockets to a loopback relay IP, otherwise to every interface.
func relayBind(ip net.IP) string {
	if ip.IsLoopback() {
		return ip.String()
	}
	return "0.0.0.0"
}

// uris are the stun: and turn: URIs handed to peers; a second STUN address (alt, nil
// when none) comes second, so peers that use only the first are unaffected.
func uris(cfg Config, relay net.IP, stun, alt net.Addr) (stunURIs, turnURIs []string) {
	host := cfg.PublicHost
	if host == "" {
		host = relay.String()
	}
	port := "3478"
	if u, ok := stun.(*net.UDPAddr); ok {
		port = strconv.Itoa(u.Port)
	}
	hp := net.JoinHostPort(host, port)
	stunURIs = []string{"stun:" + hp}
	if u, ok := alt.(*net.UDPAddr); ok {
		stunURIs = append(stunURIs, "stun:"+net.JoinHostPort(host, strconv.Itoa(u.Port)))
	}
	if cfg.TURNSecret != "" {
		turnURIs = []string{"turn:" + hp + "?transport=udp"}
	}
	return stunURIs, turnURIs
}
