package nat

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pion/stun"
)

func TestPacketRoundTripAndVerify(t *testing.T) {
	nonce := NewNonce()
	for _, kind := range []Kind{Ping, Pong} {
		p := Packet{Kind: kind, Tx: [8]byte{1, 2, 3}}
		p.Sign(nonce)
		b := p.Marshal()
		if Classify(b) != Punch {
			t.Fatalf("%v packet classified %v, want Punch", kind, Classify(b))
		}
		got, err := ParsePacket(b)
		if err != nil || got != p {
			t.Fatalf("ParsePacket(Marshal(%+v)) = %+v, %v", p, got, err)
		}
		if !got.Verify(nonce) {
			t.Errorf("%v packet does not verify with its own nonce", kind)
		}
		if got.Verify(NewNonce()) {
			t.Errorf("%v packet verifies with another nonce", kind)
		}
		for i := range b {
			bad := bytes.Clone(b)
			bad[i] ^= 0x01
			if q, err := ParsePacket(bad); err == nil && q.Verify(nonce) {
				t.Errorf("packet with bit 0 of byte %d flipped still verifies", i)
			}
		}
	}
}

func TestParsePacketErrors(t *testing.T) {
	good := Packet{Kind: Ping}.Marshal()
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrNotPunch},
		{"short", good[:36], ErrNotPunch},
		{"long", append(bytes.Clone(good), 0), ErrNotPunch},
		{"magic", append([]byte{0x1c}, good[1:]...), ErrNotPunch},
		{"version", append(append(bytes.Clone(good[:3]), 2), good[4:]...), ErrVersion},
		{"kind", append(append(bytes.Clone(good[:4]), 9), good[5:]...), ErrKind},
	} {
		if _, err := ParsePacket(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: ParsePacket = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	binding := stun.MustBuild(stun.TransactionID, stun.BindingRequest).Raw
	for _, tc := range []struct {
		name string
		b    []byte
		want Class
	}{
		{"STUN binding request", binding, STUN},
		{"punch", Packet{Kind: Ping}.Marshal(), Punch},
		{"keepalive", keepalivePacket, Punch},
		{"QUIC long header (Initial)", []byte{0xc3, 0, 0, 0, 1}, QUIC},
		{"QUIC short header", []byte{0x41, 9, 9, 9}, QUIC},
		{"TURN ChannelData looks like QUIC", []byte{0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4}, QUIC},
		{"empty", nil, Unknown},
		{"no fixed bit, no cookie", []byte{0x01, 0x01, 0, 0, 1, 2, 3, 4}, Unknown},
	} {
		if got := Classify(tc.b); got != tc.want {
			t.Errorf("%s: Classify = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func FuzzParsePacket(f *testing.F) {
	p := Packet{Kind: Pong, Tx: [8]byte{7}}
	p.Sign([]byte("0123456789abcdef"))
	f.Add(p.Marshal())
	f.Add(keepalivePacket)
	f.Add([]byte{0x1b, 'k', 'p', 1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePacket(b)
		if err != nil {
			return
		}
		if !bytes.Equal(p.Marshal(), b) {
			t.Fatalf("Marshal(ParsePacket(%x)) = %x", b, p.Marshal())
		}
		if Classify(b) != Punch {
			t.Fatalf("a parsable punch packet %x classified %v", b, Classify(b))
		}
	})
}

func FuzzClassify(f *testing.F) {
	f.Add(stun.MustBuild(stun.TransactionID, stun.BindingSuccess).Raw)
	f.Add([]byte{0xc0, 0, 0, 0, 1})
	f.Add(Packet{Kind: Ping}.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		c := Classify(b)
		if c == QUIC && b[0]&0x40 == 0 {
			t.Fatalf("%x classified QUIC without the fixed bit", b)
		}
		if c == STUN && (b[0]&0x40 != 0 || !stun.IsMessage(b)) {
			t.Fatalf("%x classified STUN but is no STUN message", b)
		}
		if _, _, err := ParseBindingResponse(b); err == nil && c != STUN {
			t.Fatalf("%x parses as a binding response but classified %v", b, c)
		}
	})
}

// TestPacketKindsAtTheEdges: the kinds 1..3 parse, 0 and 4 do not.
func TestPacketKindsAtTheEdges(t *testing.T) {
	for kind, ok := range map[byte]bool{0: false, 1: true, 2: true, 3: true, 4: false, 0xff: false} {
		b := Packet{Kind: Ping}.Marshal()
		b[4] = kind
		_, err := ParsePacket(b)
		if ok && err != nil {
			t.Errorf("kind %d: %v", kind, err)
		}
		if !ok && !errors.Is(err, ErrKind) {
			t.Errorf("kind %d: %v, want ErrKind", kind, err)
		}
	}
}

// TestClassifyEdges: STUN needs the top two bits clear, at least 20 bytes, a length that
// is a multiple of 4 and the cookie; a punch packet needs all three magic bytes.
func TestClassifyEdges(t *testing.T) {
	stunLike := func(n int, first byte) []byte {
		b := make([]byte, n)
		b[0] = first
		copy(b[4:8], stunCookie[:])
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want Class
	}{
		{"20-byte STUN header", stunLike(20, 0x00), STUN},
		{"16 bytes with the cookie", stunLike(16, 0x00), Unknown},
		{"22 bytes with the cookie", stunLike(22, 0x00), Unknown},
		{"24 bytes with the cookie", stunLike(24, 0x01), STUN},
		{"top bit set", stunLike(20, 0x80), Unknown},
		{"QUIC fixed bit with a cookie", stunLike(20, 0x40), QUIC},
		{"no cookie", make([]byte, 20), Unknown},
		{"two magic bytes", magic[:2], Unknown},
		{"three magic bytes", magic[:], Punch},
		{"one byte with the fixed bit", []byte{0x40}, QUIC},
	} {
		if got := Classify(tc.b); got != tc.want {
			t.Errorf("%s: Classify = %v, want %v", tc.name, got, tc.want)
		}
	}
}
