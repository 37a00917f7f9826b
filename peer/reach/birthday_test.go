package reach

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
)

const (
	unknown = rendezvousv1.Mapping_MAPPING_UNSPECIFIED
	ei      = rendezvousv1.Mapping_MAPPING_ENDPOINT_INDEPENDENT
	ed      = rendezvousv1.Mapping_MAPPING_ENDPOINT_DEPENDENT
)

func TestBirthdayRole(t *testing.T) {
	for _, tc := range []struct {
		own, peer rendezvousv1.Mapping
		want      role
	}{
		{ei, ed, easySide}, {ed, ei, hardSide},
		{ei, ei, noBirthday}, {ed, ed, noBirthday}, // cones punch plainly; two symmetric NATs: the relay
		{unknown, ed, noBirthday}, {ed, unknown, noBirthday}, {unknown, ei, noBirthday}, {ei, unknown, noBirthday},
	} {
		if got := birthdayRole(tc.own, tc.peer); got != tc.want {
			t.Errorf("birthdayRole(own %v, peer %v) = %v, want %v", tc.own, tc.peer, got, tc.want)
		}
	}
	for r, name := range map[role]string{noBirthday: "none", easySide: "easy", hardSide: "hard"} {
		if r.String() != name {
			t.Errorf("role %d is %q, want %q", int(r), r.String(), name)
		}
	}
}

func TestMappingOf(t *testing.T) {
	a, b := netip.MustParseAddrPort("198.51.100.7:4700"), netip.MustParseAddrPort("198.51.100.7:61234")
	if got := mappingOf(a, a); got != ei {
		t.Errorf("same mapped address twice: %v, want endpoint-independent", got)
	}
	if got := mappingOf(a, b); got != ed {
		t.Errorf("two mapped ports: %v, want endpoint-dependent", got)
	}
}

// TestBirthdayFor: who may make us spray thousands of packets, or open hundreds of
// sockets, and where those go.
func TestBirthdayFor(t *testing.T) {
	hard := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.2:4700"), netip.MustParseAddrPort("203.0.113.9:39000")}
	easy := []netip.AddrPort{netip.MustParseAddrPort("192.168.1.5:4700"), netip.MustParseAddrPort("198.51.100.7:4700"),
		netip.MustParseAddrPort("[2001:db8::5]:4700")}
	for _, tc := range []struct {
		name      string
		own, peer rendezvousv1.Mapping
		friend    bool
		observed  string
		cands     []netip.AddrPort
		callee    bool
		want      birthday
	}{
		{"easy caller sprays at once", ei, ed, true, "203.0.113.9:5555", hard, false,
			birthday{role: easySide, spray: netip.MustParseAddr("203.0.113.9")}},
		{"easy callee waits for the sockets", ei, ed, true, "203.0.113.9:5555", hard, true,
			birthday{role: easySide, spray: netip.MustParseAddr("203.0.113.9"), after: sprayAfterAnswer}},
		{"v4-mapped observed address", ei, ed, true, "[::ffff:203.0.113.9]:5555", hard, false,
			birthday{role: easySide, spray: netip.MustParseAddr("203.0.113.9")}},
		{"stranger: nothing", ei, ed, false, "203.0.113.9:5555", hard, false, birthday{}},
		{"observed elsewhere than any candidate: no spray", ei, ed, true, "192.0.2.1:5555", hard, false, birthday{}},
		{"observed at a private candidate's IP: no spray", ei, ed, true, "10.0.0.2:5555", hard, false, birthday{}},
		{"no observed address: no spray", ei, ed, true, "", hard, false, birthday{}},
		{"hard side opens towards the public IPv4 candidates", ed, ei, true, "", easy, true,
			birthday{role: hardSide, towards: easy[1:2]}},
		{"hard side facing a stranger: nothing", ed, ei, false, "", easy, true, birthday{}},
		{"hard side without a public candidate: nothing", ed, ei, true, "", easy[:1], false, birthday{}},
		{"alike: nothing", ei, ei, true, "203.0.113.9:5555", hard, false, birthday{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Agent{log: slog.New(slog.DiscardHandler), mappingKind: tc.own}
			got := a.birthdayFor(tc.friend, tc.peer, tc.observed, tc.cands, tc.callee)
			if got.role != tc.want.role || got.spray != tc.want.spray || got.after != tc.want.after || len(got.towards) != len(tc.want.towards) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got.towards {
				if got.towards[i] != tc.want.towards[i] {
					t.Errorf("towards %v, want %v", got.towards, tc.want.towards)
				}
			}
		})
	}
	if sprayAfterAnswer < 100*time.Millisecond || sprayAfterAnswer > 2*time.Second {
		t.Errorf("sprayAfterAnswer %v: the hard caller needs time to open its sockets, the punch ends in 3 s", sprayAfterAnswer)
	}
}
