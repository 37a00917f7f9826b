package portmap

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// PCP (RFC 6887) constants this package uses.
const (
	pcpVersion     = 2
	pcpOpMap       = 1
	pcpResponseBit = 0x80
	pcpMapLen      = 60 // header 24 + MAP 36
	pcpMaxLen      = 1100
	protoUDP       = 17
)

// pcpResults names the PCP result codes (RFC 6887 section 7.4) for logs.
var pcpResults = map[byte]string{
	1: "UNSUPP_VERSION", 2: "NOT_AUTHORIZED", 3: "MALFORMED_REQUEST", 4: "UNSUPP_OPCODE",
	5: "UNSUPP_OPTION", 6: "MALFORMED_OPTION", 7: "NETWORK_FAILURE", 8: "NO_RESOURCES",
	9: "UNSUPP_PROTOCOL", 10: "USER_EX_QUOTA", 11: "CANNOT_PROVIDE_EXTERNAL",
	12: "ADDRESS_MISMATCH", 13: "EXCESSIVE_REMOTE_PEERS",
}

// pcpMapRequest builds a PCP MAP request for UDP: client is the host's own address
// as the gateway sees it, nonce identifies the mapping across renewals, suggested the
// external address and port we would like (zero values: any). Lifetime 0 deletes.
func pcpMapRequest(client netip.Addr, nonce [12]byte, internal uint16, suggested netip.AddrPort, lifetime uint32) []byte {
	b := make([]byte, pcpMapLen)
	b[0] = pcpVersion
	b[1] = pcpOpMap
	binary.BigEndian.PutUint32(b[4:8], lifetime)
	ip := client.As16()
	copy(b[8:24], ip[:])
	copy(b[24:36], nonce[:])
	b[36] = protoUDP
	binary.BigEndian.PutUint16(b[40:42], internal)
	binary.BigEndian.PutUint16(b[42:44], suggested.Port())
	if suggested.Addr().IsValid() {
		sip := suggested.Addr().As16()
		copy(b[44:60], sip[:])
	} else {
		// "Any IPv4 address" is ::ffff:0.0.0.0 (RFC 6887 section 11.1).
		b[54], b[55] = 0xff, 0xff
	}
	return b
}

// pcpAnswer is a parsed MAP response.
type pcpAnswer struct {
	Lifetime uint32
	Epoch    uint32
	External netip.AddrPort
}

// parsePCPMap parses a MAP response to the request with this nonce for this internal
// UDP port. A NAT-PMP-only gateway's "unsupported version" answer is ErrUnsupported;
// another version is ErrMalformed;
// a response to another request is ErrMismatch; a result other than success is
// ErrRefused naming the code.
func parsePCPMap(b []byte, nonce [12]byte, internal uint16) (pcpAnswer, error) {
	if len(b) >= 4 && b[0] == 0 && b[1]&pcpResponseBit != 0 && binary.BigEndian.Uint16(b[2:4]) == 1 {
		return pcpAnswer{}, fmt.Errorf("%w: PCP (the gateway speaks NAT-PMP only)", ErrUnsupported)
	}
	if len(b) < 4 {
		return pcpAnswer{}, fmt.Errorf("%w: PCP answer of %d bytes", ErrMalformed, len(b))
	}
	if b[0] != pcpVersion {
		// Junk, as far as we can tell: only the NAT-PMP answer above proves the
		// gateway cannot speak PCP, and a stray packet must not end the wait.
		return pcpAnswer{}, fmt.Errorf("%w: PCP version %d", ErrMalformed, b[0])
	}
	if len(b) < pcpMapLen || len(b) > pcpMaxLen || len(b)%4 != 0 {
		return pcpAnswer{}, fmt.Errorf("%w: PCP MAP answer of %d bytes", ErrMalformed, len(b))
	}
	if b[1] != pcpResponseBit|pcpOpMap {
		return pcpAnswer{}, fmt.Errorf("%w: PCP opcode byte %#x, want a MAP response", ErrMismatch, b[1])
	}
	if [12]byte(b[24:36]) != nonce || b[36] != protoUDP || binary.BigEndian.Uint16(b[40:42]) != internal {
		return pcpAnswer{}, fmt.Errorf("%w: PCP MAP answer for another mapping", ErrMismatch)
	}
	if code := b[3]; code != 0 {
		name := pcpResults[code]
		if name == "" {
			name = "unknown"
		}
		return pcpAnswer{}, fmt.Errorf("%w: PCP result %d (%s)", ErrRefused, code, name)
	}
	ext := netip.AddrFrom16([16]byte(b[44:60])).Unmap()
	return pcpAnswer{
		Lifetime: binary.BigEndian.Uint32(b[4:8]),
		Epoch:    binary.BigEndian.Uint32(b[8:12]),
		External: netip.AddrPortFrom(ext, binary.BigEndian.Uint16(b[42:44])),
	}, nil
}
