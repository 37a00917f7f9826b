package portmap

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

var testNonce = [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}

// pcpReply builds a MAP response as a gateway would.
func pcpReply(nonce [12]byte, internal uint16, ext netip.AddrPort, lifetime uint32, result byte) []byte {
	b := make([]byte, pcpMapLen)
	b[0], b[1], b[3] = pcpVersion, pcpResponseBit|pcpOpMap, result
	binary.BigEndian.PutUint32(b[4:8], lifetime)
	binary.BigEndian.PutUint32(b[8:12], 77)
	copy(b[24:36], nonce[:])
	b[36] = protoUDP
	binary.BigEndian.PutUint16(b[40:42], internal)
	binary.BigEndian.PutUint16(b[42:44], ext.Port())
	ip := ext.Addr().As16()
	copy(b[44:60], ip[:])
	return b
}

func TestPCPRequest(t *testing.T) {
	client := netip.MustParseAddr("10.1.0.2")
	b := pcpMapRequest(client, testNonce, 4242, netip.AddrPort{}, 7200)
	if len(b) != 60 || b[0] != 2 || b[1] != 1 || binary.BigEndian.Uint32(b[4:8]) != 7200 {
		t.Fatalf("header: % x", b[:8])
	}
	if netip.AddrFrom16([16]byte(b[8:24])).Unmap() != client || [12]byte(b[24:36]) != testNonce || b[36] != 17 {
		t.Errorf("client, nonce or protocol wrong: % x", b)
	}
	if binary.BigEndian.Uint16(b[40:42]) != 4242 || netip.AddrFrom16([16]byte(b[44:60])) != netip.MustParseAddr("::ffff:0.0.0.0") {
		t.Errorf("port or suggested address wrong: % x", b[40:60])
	}
	b = pcpMapRequest(client, testNonce, 4242, netip.MustParseAddrPort("11.0.0.2:5000"), 0)
	if binary.BigEndian.Uint16(b[42:44]) != 5000 || netip.AddrFrom16([16]byte(b[44:60])).Unmap() != netip.MustParseAddr("11.0.0.2") {
		t.Errorf("suggestion not carried: % x", b[40:60])
	}
}

func TestParsePCPMap(t *testing.T) {
	ext := netip.MustParseAddrPort("11.0.0.2:5000")
	ok := pcpReply(testNonce, 4242, ext, 7200, 0)
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), ok...)) }
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"ok", ok, nil},
		{"ok with an option", mod(func(b []byte) []byte { return append(b, 0, 0, 0, 0) }), nil},
		{"empty", nil, ErrMalformed},
		{"short", ok[:40], ErrMalformed},
		{"not a multiple of 4", append(append([]byte(nil), ok...), 0), ErrMalformed},
		{"too long", append(append([]byte(nil), ok...), make([]byte, 1100)...), ErrMalformed},
		{"NAT-PMP server", []byte{0, 0x81, 0, 1, 0, 0, 0, 0}, ErrUnsupported},
		{"NAT-PMP server, header only", []byte{0, 0x81, 0, 1}, ErrUnsupported},
		{"longest", mod(func(b []byte) []byte { return append(b, make([]byte, pcpMaxLen-pcpMapLen)...) }), nil},
		{"version 1", mod(func(b []byte) []byte { b[0] = 1; return b }), ErrMalformed},
		{"a request echoed", mod(func(b []byte) []byte { b[1] = 1; return b }), ErrMismatch},
		{"ANNOUNCE", mod(func(b []byte) []byte { b[1] = 0x80; return b }), ErrMismatch},
		{"other nonce", mod(func(b []byte) []byte { b[30] ^= 1; return b }), ErrMismatch},
		{"TCP", mod(func(b []byte) []byte { b[36] = 6; return b }), ErrMismatch},
		{"other port", mod(func(b []byte) []byte { b[41]++; return b }), ErrMismatch},
		{"NO_RESOURCES", mod(func(b []byte) []byte { b[3] = 8; return b }), ErrRefused},
		{"unknown result", mod(func(b []byte) []byte { b[3] = 200; return b }), ErrRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := parsePCPMap(tc.b, testNonce, 4242)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.name == "NO_RESOURCES" && !strings.Contains(err.Error(), "PCP result 8 (NO_RESOURCES)") {
				t.Errorf("message %q does not name the result", err)
			}
			if err == nil && (a.External != ext || a.Lifetime != 7200 || a.Epoch != 77) {
				t.Errorf("parsed %+v", a)
			}
		})
	}
}

func TestNATPMP(t *testing.T) {
	if b := natpmpMapRequest(4242, 5000, 3600); string(b) != "\x00\x01\x00\x00\x10\x92\x13\x88\x00\x00\x0e\x10" {
		t.Errorf("map request % x", b)
	}
	addr := []byte{0, 128, 0, 0, 0, 0, 0, 9, 11, 0, 0, 2}
	mapping := []byte{0, 129, 0, 0, 0, 0, 0, 9, 0x10, 0x92, 0x13, 0x88, 0, 0, 0x0e, 0x10}
	for _, tc := range []struct {
		name string
		b    []byte
		op   byte
		want error
	}{
		{"address", addr, 0, nil},
		{"mapping", mapping, 1, nil},
		{"short", addr[:3], 0, ErrMalformed},
		{"address too long", append(append([]byte(nil), addr...), 0), 0, ErrMalformed},
		{"mapping cut", mapping[:12], 1, ErrMalformed},
		{"version 2", append([]byte{2}, addr[1:]...), 0, ErrUnsupported},
		{"wrong opcode", mapping, 0, ErrMismatch},
		{"address answer to a mapping", addr, 1, ErrMismatch},
		{"unsupported opcode", []byte{0, 129, 0, 5}, 1, ErrUnsupported},
		{"not authorized", []byte{0, 129, 0, 2}, 1, ErrRefused},
		{"other port", append(append([]byte(nil), mapping[:8]...), 0x10, 0x93, 0x13, 0x88, 0, 0, 0x0e, 0x10), 1, ErrMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.op == 0 {
				var a netip.Addr
				a, err = parseNATPMPAddr(tc.b)
				if err == nil && a != netip.MustParseAddr("11.0.0.2") {
					t.Errorf("address %s", a)
				}
			} else {
				var a natpmpAnswer
				a, err = parseNATPMPMap(tc.b, 4242)
				if err == nil && (a.External != 5000 || a.Lifetime != 3600 || a.Epoch != 9) {
					t.Errorf("mapping %+v", a)
				}
			}
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			// The message names what was wrong, for the operator's log.
			for name, text := range map[string]string{"not authorized": "(not authorized)",
				"address answer to a mapping": "opcode 128, want 129", "unsupported opcode": "(unsupported opcode)"} {
				if tc.name == name && !strings.Contains(err.Error(), text) {
					t.Errorf("message %q lacks %q", err, text)
				}
			}
		})
	}
}

func TestBounds(t *testing.T) {
	for _, tc := range []struct {
		secs uint32
		ok   bool
	}{{0, false}, {3, false}, {4, true}, {7200, true}, {7 * 86400, true}, {7*86400 + 1, false}, {1<<32 - 1, false}} {
		if _, err := lifetime(tc.secs); (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrAbsurd) {
			t.Errorf("lifetime(%d): %v, want ok=%v", tc.secs, err, tc.ok)
		}
	}
	for _, tc := range []struct {
		addr string
		port uint16
		want error
	}{
		{"11.0.0.2", 5000, nil}, {"::ffff:11.0.0.2", 5000, nil}, {"11.0.0.2", 0, ErrAbsurd},
		{"2001:db8::1", 5000, ErrAbsurd}, {"0.0.0.0", 5000, ErrNotPublic}, {"10.0.0.1", 5000, ErrNotPublic},
		{"100.64.1.2", 5000, ErrNotPublic}, {"192.168.1.1", 5000, ErrNotPublic}, {"127.0.0.1", 5000, ErrNotPublic},
		{"224.0.0.1", 5000, ErrNotPublic}, {"255.255.255.255", 5000, ErrNotPublic}, {"198.18.1.2", 5000, ErrNotPublic},
	} {
		ap, err := external(netip.MustParseAddr(tc.addr), tc.port)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("external(%s, %d) = %v, %v; want %v", tc.addr, tc.port, ap, err, tc.want)
		}
	}
}

func TestParseRoutes(t *testing.T) {
	head := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
	for _, tc := range []struct {
		name, text, want string
	}{
		{"default", head + "eth0\t00000000\t0100010A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n", "10.1.0.1"},
		{"lowest metric", head + "a\t00000000\t0100010A\t0003\t0\t0\t200\t00000000\t0\t0\t0\nb\t00000000\t0200010A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n", "10.1.0.2"},
		{"only a link route", head + "eth0\t0000010A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n", ""},
		{"metric 0 first", head + "a\t00000000\t0100010A\t0003\t0\t0\t0\t00000000\t0\t0\t0\nb\t00000000\t0200010A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n", "10.1.0.1"},
		{"equal metrics: the first", head + "a\t00000000\t0300010A\t0003\t0\t0\t5\t00000000\t0\t0\t0\nb\t00000000\t0200010A\t0003\t0\t0\t5\t00000000\t0\t0\t0\n", "10.1.0.3"},
		{"eight fields", head + "eth0\t00000000\t0100010A\t0003\t0\t0\t0\t00000000\n", "10.1.0.1"},
		{"seven fields", head + "eth0\t00000000\t0100010A\t0003\t0\t0\t0\n", ""},
		{"down", head + "eth0\t00000000\t0100010A\t0002\t0\t0\t0\t00000000\t0\t0\t0\n", ""},
		{"junk", head + "eth0\t00000000\tzz\t0003\t0\t0\t0\t00000000\n", ""},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRoutes([]byte(tc.text))
			if tc.want == "" {
				if !errors.Is(err, ErrNoGateway) {
					t.Errorf("got %v, %v; want ErrNoGateway", got, err)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Errorf("got %v, %v; want %s", got, err, tc.want)
			}
		})
	}
}

const gw = "10.1.0.1"

func TestParseSSDP(t *testing.T) {
	g := netip.MustParseAddr(gw)
	ok := "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: http://10.1.0.1:2189/rootDesc.xml\r\n\r\n"
	for _, tc := range []struct {
		name, b string
		want    error
	}{
		{"ok", ok, nil},
		{"elsewhere", strings.Replace(ok, "10.1.0.1", "10.1.0.9", 1), ErrMismatch},
		{"a name", strings.Replace(ok, "10.1.0.1", "router.lan", 1), ErrMismatch},
		{"https", strings.Replace(ok, "http:", "https:", 1), ErrMalformed},
		{"credentials", strings.Replace(ok, "//", "//u:p@", 1), ErrMalformed},
		{"no location", "HTTP/1.1 200 OK\r\n\r\n", ErrMalformed},
		{"not found", "HTTP/1.1 404 Not Found\r\n\r\n", ErrRefused},
		{"not HTTP", "hello", ErrMalformed},
		{"bad port", strings.Replace(ok, "2189", "99999", 1), ErrMalformed},
		{"port 0", strings.Replace(ok, "2189", "0", 1), ErrMalformed},
		{"port 1", strings.Replace(ok, "2189", "1", 1), nil},
		{"port 65535", strings.Replace(ok, "2189", "65535", 1), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := parseSSDP([]byte(tc.b), g)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && (u.Hostname() != gw || tc.name == "ok" && u.String() != "http://10.1.0.1:2189/rootDesc.xml") {
				t.Errorf("location %s", u)
			}
		})
	}
}

const rootDesc = `<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><device>
<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2</deviceType>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType><controlURL>/L3F</controlURL></service></serviceList>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:2</deviceType><deviceList><device>
<serviceList>
<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>/ctl/IPConn1</controlURL></service>
<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType><controlURL>/ctl/IPConn</controlURL></service>
</serviceList></device></deviceList></device></deviceList></device></root>`

func TestParseDescription(t *testing.T) {
	g := netip.MustParseAddr(gw)
	loc, _ := url.Parse("http://10.1.0.1:2189/rootDesc.xml")
	for _, tc := range []struct {
		name, body, wantURL, wantType string
		want                          error
	}{
		{"IGD 2 preferred", rootDesc, "http://10.1.0.1:2189/ctl/IPConn", igdServices[0], nil},
		{"IGD 1", strings.Replace(rootDesc, "WANIPConnection:2", "Other:1", 1), "http://10.1.0.1:2189/ctl/IPConn1", igdServices[1], nil},
		{"URLBase", strings.Replace(rootDesc, "<device>", "<URLBase>http://10.1.0.1:80/</URLBase><device>", 1), "http://10.1.0.1:80/ctl/IPConn", igdServices[0], nil},
		{"URLBase elsewhere", strings.Replace(rootDesc, "<device>", "<URLBase>http://10.9.9.9/</URLBase><device>", 1), "", "", ErrMismatch},
		{"control elsewhere", strings.Replace(rootDesc, "/ctl/IPConn<", "http://10.9.9.9/x<", 1), "", "", ErrMismatch},
		{"no WAN service", strings.ReplaceAll(rootDesc, "WANIPConnection", "Other"), "", "", ErrUnsupported},
		{"not XML", "<root><device>", "", "", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseDescription([]byte(tc.body), loc, g)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && (s.Control.String() != tc.wantURL || s.Type != tc.wantType) {
				t.Errorf("service %s at %s, want %s at %s", s.Type, s.Control, tc.wantType, tc.wantURL)
			}
		})
	}
}

func TestSOAP(t *testing.T) {
	req := string(soapRequest(igdServices[0], "AddPortMapping", "NewPortMappingDescription", "a<b&c"))
	if !strings.Contains(req, `<u:AddPortMapping xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:2">`) ||
		!strings.Contains(req, "<NewPortMappingDescription>a&lt;b&amp;c</NewPortMappingDescription>") {
		t.Errorf("request: %s", req)
	}
	resp := `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:GetExternalIPAddressResponse xmlns:u="x"><NewExternalIPAddress>11.0.0.2</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>`
	out, err := parseSOAP([]byte(resp), "GetExternalIPAddress")
	if err != nil || out["NewExternalIPAddress"] != "11.0.0.2" {
		t.Errorf("answer: %v, %v", out, err)
	}
	if _, err := parseSOAP([]byte(resp), "AddPortMapping"); !errors.Is(err, ErrMalformed) {
		t.Errorf("answer to another action: %v, want ErrMalformed", err)
	}
	fault := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>718</errorCode><errorDescription>ConflictInMappingEntry</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`
	_, err = parseSOAP([]byte(fault), "AddPortMapping")
	var ue *upnpError
	if !errors.As(err, &ue) || ue.Code != upnpConflict || !errors.Is(err, ErrRefused) {
		t.Errorf("fault: %v", err)
	}
	if _, err := parseSOAP([]byte(strings.Replace(fault, "718", "x", 1)), "AddPortMapping"); !errors.Is(err, ErrMalformed) {
		t.Errorf("fault without a code: %v", err)
	}
	if _, err := parseSOAP([]byte("<a><b>"), "AddPortMapping"); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated XML: %v", err)
	}
}
