package reach

import (
	"net/netip"
	"testing"
)

func TestServiceAddr(t *testing.T) {
	for _, tc := range []struct {
		uris       []string
		scheme     string
		rendezvous string
		want       string
	}{
		{[]string{"stun:198.18.1.2:3478"}, "stun:", "198.18.1.2:7000", "198.18.1.2:3478"},
		{[]string{"turn:198.18.1.2:3479?transport=udp"}, "turn:", "198.18.1.2:7000", "198.18.1.2:3479"},
		// A rendezvous that announces loopback (no --public-host) is reached at its own host.
		{[]string{"stun:127.0.0.1:3478"}, "stun:", "198.18.1.2:7000", "198.18.1.2:3478"},
		{[]string{"stun:0.0.0.0:3478"}, "stun:", "198.18.1.2:7000", "198.18.1.2:3478"},
		{[]string{"stun:127.0.0.1:3478"}, "stun:", "127.0.0.1:7000", "127.0.0.1:3478"},
		{[]string{"turn:198.18.1.2:3478", "stun:198.18.1.3:3478"}, "stun:", "x:7000", "198.18.1.3:3478"},
		{[]string{"stun:nonsense"}, "stun:", "198.18.1.2:7000", ""},
		{nil, "turn:", "198.18.1.2:7000", ""},
	} {
		got, err := serviceAddr(tc.uris, tc.scheme, tc.rendezvous)
		if tc.want == "" {
			if err == nil {
				t.Errorf("serviceAddr(%q, %q, %q) = %v, want an error", tc.uris, tc.scheme, tc.rendezvous, got)
			}
			continue
		}
		if err != nil || got != netip.MustParseAddrPort(tc.want) {
			t.Errorf("serviceAddr(%q, %q, %q) = %v, %v; want %s", tc.uris, tc.scheme, tc.rendezvous, got, err, tc.want)
		}
	}
}
