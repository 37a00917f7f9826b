package portmap

import (
	"errors"
	"net/netip"
	"net/url"
	"testing"
)

// Every parser must refuse or accept without panicking, and what it accepts must be
// an answer to the request it was given.

func FuzzParsePCPMap(f *testing.F) {
	f.Add(pcpReply(testNonce, 4242, netip.MustParseAddrPort("11.0.0.2:5000"), 7200, 0))
	f.Add([]byte{0, 0x81, 0, 1})
	f.Add(make([]byte, 60))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parsePCPMap(b, testNonce, 4242)
		if err != nil {
			return
		}
		if len(b) < pcpMapLen || [12]byte(b[24:36]) != testNonce || b[3] != 0 {
			t.Fatalf("accepted an answer to another request: % x", b)
		}
		if _, err := external(a.External.Addr(), a.External.Port()); err == nil && !a.External.Addr().Is4() {
			t.Fatalf("external() accepted %s", a.External)
		}
	})
}

func FuzzParseNATPMP(f *testing.F) {
	f.Add([]byte{0, 128, 0, 0, 0, 0, 0, 9, 11, 0, 0, 2})
	f.Add([]byte{0, 129, 0, 0, 0, 0, 0, 9, 0x10, 0x92, 0x13, 0x88, 0, 0, 0x0e, 0x10})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := parseNATPMPAddr(b); err == nil && (len(b) != 12 || b[1] != 128) {
			t.Fatalf("accepted address answer % x", b)
		}
		if a, err := parseNATPMPMap(b, 4242); err == nil && (len(b) != 16 || b[1] != 129 || b[8] != 0x10 || b[9] != 0x92) {
			t.Fatalf("accepted mapping answer % x as %+v", b, a)
		}
	})
}

func FuzzParseSSDP(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nLOCATION: http://10.1.0.1:2189/rootDesc.xml\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nLOCATION: http://[::ffff:10.1.0.1]/x\r\n\r\n"))
	g := netip.MustParseAddr(gw)
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := parseSSDP(b, g)
		if err != nil {
			return
		}
		if h, err := netip.ParseAddr(u.Hostname()); err != nil || h.Unmap() != g || u.Scheme != "http" {
			t.Fatalf("accepted location %s off the gateway", u)
		}
	})
}

func FuzzParseDescription(f *testing.F) {
	f.Add([]byte(rootDesc))
	loc, _ := url.Parse("http://10.1.0.1:2189/rootDesc.xml")
	g := netip.MustParseAddr(gw)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseDescription(b, loc, g)
		if err != nil {
			return
		}
		if h, err := netip.ParseAddr(s.Control.Hostname()); err != nil || h.Unmap() != g {
			t.Fatalf("accepted control URL %s off the gateway", s.Control)
		}
	})
}

func FuzzParseSOAP(f *testing.F) {
	f.Add([]byte(`<s:Envelope><s:Body><u:AddPortMappingResponse/></s:Body></s:Envelope>`))
	f.Add([]byte(`<s:Fault><errorCode>718</errorCode></s:Fault>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := parseSOAP(b, "AddPortMapping")
		var ue *upnpError
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.As(err, &ue) {
			t.Fatalf("unexpected error kind %v", err)
		}
		if len(out) > 32 {
			t.Fatalf("%d out arguments kept", len(out))
		}
	})
}

func FuzzParseRoutes(f *testing.F) {
	f.Add([]byte("Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\nEth0\t00000000\t0100010A\t0003\t0\t0\t0\t00000000\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseRoutes(b)
		if err == nil && (!a.Is4() || a.IsUnspecified()) {
			t.Fatalf("gateway %v", a)
		}
	})
}
