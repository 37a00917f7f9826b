package portmap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// igd plays a UPnP-IGD gateway on loopback: an SSDP responder and an HTTP server whose
// SOAP actions call action (name, request body) -> (status, response body).
type igd struct {
	http     *httptest.Server
	ssdp     *net.UDPConn
	location string // what SSDP answers; "" means this server's description
	desc     string
	action   func(name, body string) (int, string)

	mu    sync.Mutex
	calls []string // "Action body"
}

func soapOK(name string, out ...string) (int, string) {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:%sResponse xmlns:u="x">`, name)
	for i := 0; i+1 < len(out); i += 2 {
		fmt.Fprintf(&b, "<%s>%s</%s>", out[i], out[i+1], out[i])
	}
	fmt.Fprintf(&b, "</u:%sResponse></s:Body></s:Envelope>", name)
	return http.StatusOK, b.String()
}

func soapFault(code int) (int, string) {
	return http.StatusInternalServerError, fmt.Sprintf(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><detail><UPnPError><errorCode>%d</errorCode><errorDescription>x</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`, code)
}

// goodAction is a gateway that maps whatever is asked.
func goodAction(name, body string) (int, string) {
	switch name {
	case "GetExternalIPAddress":
		return soapOK(name, "NewExternalIPAddress", "11.0.0.2")
	case "AddAnyPortMapping":
		return soapOK(name, "NewReservedPort", "6000")
	}
	return soapOK(name)
}

func newIGD(t *testing.T, desc string, action func(name, body string) (int, string)) *igd {
	t.Helper()
	g := &igd{desc: desc, action: action}
	g.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			if r.URL.Path == "/redirect" {
				http.Redirect(w, r, "/rootDesc.xml", http.StatusFound)
				return
			}
			if r.URL.Path == "/huge" {
				_, _ = w.Write([]byte(strings.Repeat("x", maxDescription+10)))
				return
			}
			_, _ = io.WriteString(w, g.desc)
			return
		}
		body, _ := io.ReadAll(r.Body)
		soap := r.Header.Get("SOAPAction")
		name := soap[strings.LastIndex(soap, "#")+1 : len(soap)-1]
		g.mu.Lock()
		g.calls = append(g.calls, name+" "+string(body))
		g.mu.Unlock()
		status, out := g.action(name, string(body))
		w.WriteHeader(status)
		_, _ = io.WriteString(w, out)
	}))
	t.Cleanup(g.http.Close)
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	g.ssdp = conn
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if !strings.HasPrefix(string(buf[:n]), "M-SEARCH") {
				continue
			}
			loc := g.location
			if loc == "" {
				loc = g.http.URL + "/rootDesc.xml"
			}
			_, _ = conn.WriteToUDPAddrPort([]byte("HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: "+loc+"\r\n\r\n"), from)
		}
	}()
	return g
}

func (g *igd) config() Config {
	return Config{Port: 4242, Gateway: netip.MustParseAddr("127.0.0.1"), Protocols: []Protocol{UPnP},
		Timeout: 300 * time.Millisecond, ssdpPort: uint16(g.ssdp.LocalAddr().(*net.UDPAddr).Port)}
}

func (g *igd) called() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.calls...)
}

// TestUPnPGateway runs the UPnP client against a gateway on loopback: the happy path,
// the gateway's ways of saying no, and answers pointing elsewhere.
func TestUPnPGateway(t *testing.T) {
	igd1 := strings.Replace(rootDesc, "WANIPConnection:2", "Other:1", 1)
	for _, tc := range []struct {
		name     string
		desc     string
		location string // relative to the server's URL when it starts with "/"
		action   func(name, body string) (int, string)
		want     error
		ext      string
		check    func(t *testing.T, calls []string)
	}{
		{name: "good", desc: rootDesc, action: goodAction, ext: "11.0.0.2:4242", check: func(t *testing.T, calls []string) {
			if len(calls) < 3 || !strings.HasPrefix(calls[1], "AddPortMapping ") ||
				!strings.Contains(calls[1], "<NewInternalClient>127.0.0.1</NewInternalClient>") ||
				!strings.Contains(calls[1], "<NewLeaseDuration>7200</NewLeaseDuration>") ||
				!strings.Contains(calls[1], "<NewPortMappingDescription>kith</NewPortMappingDescription>") ||
				!strings.HasPrefix(calls[len(calls)-1], "DeletePortMapping ") || !strings.Contains(calls[len(calls)-1], "<NewExternalPort>4242<") {
				t.Errorf("calls: %q", calls)
			}
		}},
		{name: "port taken, IGD 2 picks one", desc: rootDesc, action: func(name, body string) (int, string) {
			if name == "AddPortMapping" {
				return soapFault(upnpConflict)
			}
			return goodAction(name, body)
		}, ext: "11.0.0.2:6000"},
		{name: "port taken, IGD 1 random port", desc: igd1, action: func(name, body string) (int, string) {
			if name == "AddPortMapping" && strings.Contains(body, "<NewExternalPort>4242<") {
				return soapFault(upnpConflict)
			}
			return goodAction(name, body)
		}, ext: "11.0.0.2:*"},
		{name: "only permanent leases", desc: rootDesc, action: func(name, body string) (int, string) {
			if name == "AddPortMapping" && !strings.Contains(body, "<NewLeaseDuration>0<") {
				return soapFault(upnpOnlyPermanent)
			}
			return goodAction(name, body)
		}, ext: "11.0.0.2:4242"},
		{name: "refused", desc: rootDesc, action: func(name, body string) (int, string) {
			if name == "AddPortMapping" {
				return soapFault(606)
			}
			return goodAction(name, body)
		}, want: ErrRefused},
		{name: "reserved port 0", desc: rootDesc, action: func(name, body string) (int, string) {
			switch name {
			case "AddPortMapping":
				return soapFault(upnpConflict)
			case "AddAnyPortMapping":
				return soapOK(name, "NewReservedPort", "0")
			}
			return goodAction(name, body)
		}, want: ErrAbsurd},
		{name: "private external address", desc: rootDesc, action: func(name, body string) (int, string) {
			if name == "GetExternalIPAddress" {
				return soapOK(name, "NewExternalIPAddress", "192.168.1.1")
			}
			return goodAction(name, body)
		}, want: ErrNotPublic, check: func(t *testing.T, calls []string) {
			for _, c := range calls {
				if strings.HasPrefix(c, "AddPortMapping") {
					t.Errorf("mapped behind a private address: %q", calls)
				}
			}
		}},
		{name: "external address junk", desc: rootDesc, action: func(name, body string) (int, string) {
			if name == "GetExternalIPAddress" {
				return soapOK(name, "NewExternalIPAddress", "nope")
			}
			return goodAction(name, body)
		}, want: ErrMalformed},
		{name: "location elsewhere", desc: rootDesc, location: "http://127.0.0.2:1/rootDesc.xml", action: goodAction, want: ErrTimeout},
		{name: "control elsewhere", desc: strings.Replace(rootDesc, "/ctl/IPConn<", "http://127.0.0.2/x<", 1), action: goodAction, want: ErrMismatch},
		{name: "redirect", desc: rootDesc, location: "/redirect", action: goodAction, want: ErrRefused},
		{name: "huge description", desc: rootDesc, location: "/huge", action: goodAction, want: ErrMalformed},
		{name: "no WAN service", desc: strings.ReplaceAll(rootDesc, "WANIPConnection", "X"), action: goodAction, want: ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newIGD(t, tc.desc, tc.action)
			if strings.HasPrefix(tc.location, "/") {
				g.location = g.http.URL + tc.location
			} else {
				g.location = tc.location
			}
			m := Start(context.Background(), g.config())
			<-m.Ready()
			ext, ok := m.External()
			if tc.want != nil {
				if ok || !errors.Is(m.Err(), tc.want) {
					t.Errorf("got %v %v (err %v), want no mapping and %v", ext, ok, m.Err(), tc.want)
				}
			} else if !ok || m.Protocol() != UPnP || !matchAddr(ext, tc.ext) {
				t.Errorf("got %v %v by %v (err %v), want %s", ext, ok, m.Protocol(), m.Err(), tc.ext)
			}
			_ = m.Close()
			if tc.check != nil {
				tc.check(t, g.called())
			}
		})
	}
}

func matchAddr(ap netip.AddrPort, want string) bool {
	if p, ok := strings.CutSuffix(want, ":*"); ok {
		return ap.Addr().String() == p && ap.Port() >= 1024
	}
	return ap.String() == want
}
