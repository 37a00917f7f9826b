package portmap

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// NAT-PMP (RFC 6886) constants this package uses.
const (
	natpmpOpAddr = 0
	natpmpOpUDP  = 1
	natpmpReply  = 128
)

// natpmpResults names the NAT-PMP result codes (RFC 6886 section 3.5) for logs.
var natpmpResults = map[uint16]string{
	1: "unsupported version", 2: "not authorized", 3: "network failure",
	4: "out of resources", 5: "unsupported opcode",
}

// natpmpAddrRequest asks the gateway for its external address.
func natpmpAddrRequest() []byte { return []byte{0, natpmpOpAddr} }

// natpmpMapRequest asks for a UDP mapping of the internal port; lifetime 0 deletes.
func natpmpMapRequest(internal, suggested uint16, lifetime uint32) []byte {
	b := make([]byte, 12)
	b[1] = natpmpOpUDP
	binary.BigEndian.PutUint16(b[4:6], internal)
	binary.BigEndian.PutUint16(b[6:8], suggested)
	binary.BigEndian.PutUint32(b[8:12], lifetime)
	return b
}

// natpmpHeader checks version, opcode and result of an answer of the wanted length.
func natpmpHeader(b []byte, op byte, size int) error {
	if len(b) < 4 {
		return fmt.Errorf("%w: NAT-PMP answer of %d bytes", ErrMalformed, len(b))
	}
	if b[0] != 0 {
		return fmt.Errorf("%w: NAT-PMP version %d", ErrUnsupported, b[0])
	}
	if b[1] != natpmpReply+op {
		return fmt.Errorf("%w: NAT-PMP opcode %d, want %d", ErrMismatch, b[1], natpmpReply+op)
	}
	if code := binary.BigEndian.Uint16(b[2:4]); code != 0 {
		name := natpmpResults[code]
		if name == "" {
			name = "unknown"
		}
		if code == 1 || code == 5 {
			return fmt.Errorf("%w: NAT-PMP result %d (%s)", ErrUnsupported, code, name)
		}
		return fmt.Errorf("%w: NAT-PMP result %d (%s)", ErrRefused, code, name)
	}
	if len(b) != size {
		return fmt.Errorf("%w: NAT-PMP answer of %d bytes, want %d", ErrMalformed, len(b), size)
	}
	return nil
}

// parseNATPMPAddr parses the answer to natpmpAddrRequest.
func parseNATPMPAddr(b []byte) (netip.Addr, error) {
	if err := natpmpHeader(b, natpmpOpAddr, 12); err != nil {
		return netip.Addr{}, err
	}
	return netip.AddrFrom4([4]byte(b[8:12])), nil
}

// natpmpAnswer is a parsed mapping answer.
type natpmpAnswer struct {
	External uint16
	Lifetime uint32
	Epoch    uint32
}

// parseNATPMPMap parses the answer to a UDP mapping request for the internal port.
func parseNATPMPMap(b []byte, internal uint16) (natpmpAnswer, error) {
	if err := natpmpHeader(b, natpmpOpUDP, 16); err != nil {
		return natpmpAnswer{}, err
	}
	if got := binary.BigEndian.Uint16(b[8:10]); got != internal {
		return natpmpAnswer{}, fmt.Errorf("%w: NAT-PMP answer for internal port %d, want %d", ErrMismatch, got, internal)
	}
	return natpmpAnswer{
		Epoch:    binary.BigEndian.Uint32(b[4:8]),
		External: binary.BigEndian.Uint16(b[10:12]),
		Lifetime: binary.BigEndian.Uint32(b[12:16]),
	}, nil
}
