package nat

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// A punch packet is 37 bytes:
//
//	[0:3]   magic 0x1b 'k' 'p': the first byte has the QUIC fixed bit (0x40) clear and
//	        the STUN magic cookie can never sit at [4:8], so the three never mix
//	[3]     version, 1
//	[4]     kind: 1 ping, 2 pong, 3 keepalive
//	[5:13]  session: SHA-256("kith/punch/v1/session" || nonce)[:8]
//	[13:21] transaction: random per ping, echoed by its pong
//	[21:37] tag: HMAC-SHA256(nonce, [0:21])[:16]; all zero in a keepalive
//
// The nonce itself never travels in a punch packet: only the two ends, who got it
// through signed signalling, can make or check a tag.
const (
	packetLen     = 37
	packetVersion = 1
	tagLen        = 16
	// MinNonceLen is the shortest nonce Punch accepts.
	MinNonceLen = 16
)

var magic = [3]byte{0x1b, 'k', 'p'}

// Kind is the kind of a punch packet.
type Kind byte

const (
	// Ping asks the receiver to answer with a Pong from the socket it arrived on.
	Ping Kind = 1
	// Pong answers a Ping, echoing its transaction.
	Pong Kind = 2
	// KeepaliveKind only refreshes NAT mappings; receivers drop it.
	KeepaliveKind Kind = 3
)

// Sentinel errors of ParsePacket.
var (
	ErrNotPunch   = errors.New("nat: not a punch packet (wrong length or magic)")
	ErrVersion    = errors.New("nat: punch packet of an unknown version")
	ErrKind       = errors.New("nat: punch packet of an unknown kind")
	ErrShortNonce = fmt.Errorf("nat: punch nonce shorter than %d bytes", MinNonceLen)
)

// Packet is a parsed punch packet.
type Packet struct {
	Kind    Kind
	Session [8]byte
	Tx      [8]byte
	Tag     [tagLen]byte
}

// ParsePacket parses a punch packet. It checks the format only; Verify checks the tag.
func ParsePacket(b []byte) (Packet, error) {
	if len(b) != packetLen || [3]byte(b[0:3]) != magic {
		return Packet{}, ErrNotPunch
	}
	if b[3] != packetVersion {
		return Packet{}, fmt.Errorf("%w: %d", ErrVersion, b[3])
	}
	p := Packet{Kind: Kind(b[4]), Session: [8]byte(b[5:13]), Tx: [8]byte(b[13:21]), Tag: [tagLen]byte(b[21:37])}
	if p.Kind < Ping || p.Kind > KeepaliveKind {
		return Packet{}, fmt.Errorf("%w: %d", ErrKind, b[4])
	}
	return p, nil
}

// Marshal encodes p.
func (p Packet) Marshal() []byte {
	b := make([]byte, 0, packetLen)
	b = append(b, magic[:]...)
	b = append(b, packetVersion, byte(p.Kind))
	b = append(b, p.Session[:]...)
	b = append(b, p.Tx[:]...)
	return append(b, p.Tag[:]...)
}

// Sign sets p's session and tag for nonce.
func (p *Packet) Sign(nonce []byte) {
	p.Session = SessionID(nonce)
	p.Tag = p.tag(nonce)
}

// Verify reports whether p belongs to the session of nonce and carries its tag.
func (p Packet) Verify(nonce []byte) bool {
	if p.Session != SessionID(nonce) {
		return false
	}
	want := p.tag(nonce)
	return hmac.Equal(p.Tag[:], want[:])
}

func (p Packet) tag(nonce []byte) [tagLen]byte {
	mac := hmac.New(sha256.New, nonce)
	mac.Write(p.Marshal()[:21])
	return [tagLen]byte(mac.Sum(nil))
}

// SessionID names the punch session of nonce on the wire without revealing it.
func SessionID(nonce []byte) [8]byte {
	h := sha256.New()
	h.Write([]byte("kith/punch/v1/session"))
	h.Write(nonce)
	return [8]byte(h.Sum(nil))
}

// NewNonce returns a fresh random nonce for one connection attempt; the caller sends it
// to the friend inside the signed offer.
func NewNonce() []byte {
	n := make([]byte, 32)
	_, _ = rand.Read(n)
	return n
}

// keepalivePacket is what Keepalive sends: a punch packet of kind KeepaliveKind.
var keepalivePacket = Packet{Kind: KeepaliveKind}.Marshal()

// Class says which part of the peer a datagram on the shared socket is for.
type Class int

const (
	// Unknown datagrams are dropped.
	Unknown Class = iota
	// STUN is a STUN message (RFC 5389: top two bits zero, magic cookie at [4:8]).
	STUN
	// Punch is one of our punch packets (by its magic; Verify decides the rest).
	Punch
	// QUIC is a datagram with the QUIC fixed bit (0x40) set: long and short headers.
	// TURN ChannelData (0x40-0x4f) looks the same, which is why the Mux diverts
	// everything from a TURN server before it classifies.
	QUIC
)

// stunCookie is the RFC 5389 magic cookie.
var stunCookie = [4]byte{0x21, 0x12, 0xa4, 0x42}

// Classify tells what a datagram is by its first bytes.
func Classify(b []byte) Class {
	// An if per class, not a tagless switch, so that gremlins can see these are tested.
	if len(b) == 0 {
		return Unknown
	}
	if b[0]&0xc0 == 0 && len(b) >= 20 && [4]byte(b[4:8]) == stunCookie && len(b)%4 == 0 {
		return STUN
	}
	if len(b) >= 3 && [3]byte(b[0:3]) == magic {
		return Punch
	}
	if b[0]&0x40 != 0 {
		return QUIC
	}
	return Unknown
}
