package reach

import (
	"log/slog"
	"net"
	"net/netip"
	"testing"

	"github.com/kithnet/kith/peer/nat"
	"github.com/kithnet/kith/peer/transport"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
)

// fixedMapping is a router's mapping as peer/portmap would report it.
type fixedMapping struct {
	addr netip.AddrPort
	ok   bool
}

func (m fixedMapping) External() (netip.AddrPort, bool) { return m.addr, m.ok }

// The candidates are the socket's host address, the reflexive address, and a port
// mapping as its own type (PORT_MAPPED), each once; a mapping equal to the reflexive
// address is not repeated.
func TestCandidates(t *testing.T) {
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	mux := nat.NewMux(udp, nat.MuxConfig{})
	t.Cleanup(func() { mux.Close() })
	k := mustKey(t)
	tr, err := transport.New(transport.Config{Key: k, PacketConn: mux.PacketConn(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	host, srflx, mapped := mux.LocalAddr(), netip.MustParseAddrPort("198.51.100.7:4700"), netip.MustParseAddrPort("198.51.100.7:5000")
	const (
		H = rendezvousv1.CandidateType_CANDIDATE_TYPE_HOST
		S = rendezvousv1.CandidateType_CANDIDATE_TYPE_SERVER_REFLEXIVE
		P = rendezvousv1.CandidateType_CANDIDATE_TYPE_PORT_MAPPED
	)
	for _, tc := range []struct {
		name   string
		mapper PortMapper
		want   map[netip.AddrPort]rendezvousv1.CandidateType
	}{
		{"no mapper", nil, map[netip.AddrPort]rendezvousv1.CandidateType{host: H, srflx: S}},
		{"no mapping yet", fixedMapping{}, map[netip.AddrPort]rendezvousv1.CandidateType{host: H, srflx: S}},
		{"mapped", fixedMapping{mapped, true}, map[netip.AddrPort]rendezvousv1.CandidateType{host: H, srflx: S, mapped: P}},
		{"mapped to the reflexive address", fixedMapping{srflx, true}, map[netip.AddrPort]rendezvousv1.CandidateType{host: H, srflx: S}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(Config{Key: k, Transport: tr, Mux: mux, PortMapper: tc.mapper, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			a.reflexAddr = srflx
			got := a.candidates()
			if len(got) != len(tc.want) {
				t.Fatalf("candidates %v, want %v", got, tc.want)
			}
			for _, c := range got {
				ap, err := netip.ParseAddrPort(c.GetAddress())
				if err != nil || tc.want[ap] != c.GetType() {
					t.Errorf("candidate %s of type %v; want %v", c.GetAddress(), c.GetType(), tc.want[ap])
				}
			}
			if pm := addrs(got, directTypes...); len(pm) != len(tc.want) {
				t.Errorf("punch targets %v: every candidate type here is punched", pm)
			}
		})
	}
}
