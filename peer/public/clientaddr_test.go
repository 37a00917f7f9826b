package public_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/kithnet/kith/peer/public"
)

func TestClientAddr(t *testing.T) {
	behind := public.ForwardedFor(netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128"))
	for _, tc := range []struct {
		remote, xff   string
		direct, proxy string
	}{
		{"192.0.2.1:5", "", "192.0.2.1", "192.0.2.1"},
		{"[2001:db8:1:2:3::4]:5", "", "2001:db8:1:2::/64", "2001:db8:1:2::/64"},
		{"192.0.2.1:5", "198.51.100.9", "192.0.2.1", "192.0.2.1"},                     // not a proxy: header ignored
		{"10.0.0.2:5", "198.51.100.9", "10.0.0.2", "198.51.100.9"},                    // the proxy's word
		{"10.0.0.2:5", "6.6.6.6, 198.51.100.9, 10.0.0.3", "10.0.0.2", "198.51.100.9"}, // the client's own claim is left of it
		{"[::1]:5", "2001:db8::7", "::/64", "2001:db8::/64"},
		{"10.0.0.2:5", "nonsense", "10.0.0.2", "10.0.0.2"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := public.RemoteIP(r); got != tc.direct {
			t.Errorf("RemoteIP(%s, XFF %q) = %q, want %q", tc.remote, tc.xff, got, tc.direct)
		}
		if got := behind(r); got != tc.proxy {
			t.Errorf("ForwardedFor(%s, XFF %q) = %q, want %q", tc.remote, tc.xff, got, tc.proxy)
		}
	}
}
