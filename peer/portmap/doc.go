// Package portmap asks the default gateway to forward one public UDP port to a local
// socket, with PCP (RFC 6887), then NAT-PMP (RFC 6886), then UPnP-IGD, keeps the
// mapping alive at half its lifetime and releases it on Close.
//
// The wire formats are pure functions over bytes (pcp.go, natpmp.go, upnp.go), fuzzed
// beside their parsers; mapper.go does the I/O. Every answer from a gateway is
// untrusted: a malformed packet, an answer from another address, a lifetime or port
// out of bounds is an error and changes nothing the Mapper reports.
package portmap
