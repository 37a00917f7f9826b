package portmap

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// UPnP-IGD services that can map a port, best first.
var igdServices = []string{
	"urn:schemas-upnp-org:service:WANIPConnection:2",
	"urn:schemas-upnp-org:service:WANIPConnection:1",
	"urn:schemas-upnp-org:service:WANPPPConnection:1",
}

// UPnP error codes this package reacts to (UPnP-IGD WANIPConnection:2 section 2.4).
const (
	upnpConflict      = 718 // ConflictInMappingEntry
	upnpOnlyPermanent = 725 // OnlyPermanentLeasesSupported
)

// maxDescription bounds what we read of a device description or SOAP answer.
const maxDescription = 64 << 10

// ssdpSearch is the M-SEARCH that asks for Internet gateway devices.
func ssdpSearch() []byte {
	return []byte("M-SEARCH * HTTP/1.1\r\n" +
		"HOST: 239.255.255.250:1900\r\n" +
		"MAN: \"ssdp:discover\"\r\n" +
		"MX: 1\r\n" +
		"ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n")
}

// onGateway parses a URL a gateway gave us and checks it points back at the gateway
// itself over plain HTTP: an answer naming another host would have us send requests
// wherever a forger likes.
func onGateway(raw string, base *url.URL, gateway netip.Addr) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: URL %q: %v", ErrMalformed, raw, err)
	}
	if base != nil {
		u = base.ResolveReference(u)
	}
	if u.Scheme != "http" || u.User != nil {
		return nil, fmt.Errorf("%w: URL %q is not plain http", ErrMalformed, raw)
	}
	host, err := netip.ParseAddr(u.Hostname())
	if err != nil || host.Unmap() != gateway {
		return nil, fmt.Errorf("%w: URL %q does not point at the gateway %s", ErrMismatch, u.Redacted(), gateway)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w: URL %q has port %q", ErrMalformed, raw, p)
		}
	}
	return u, nil
}

// parseSSDP parses an answer to ssdpSearch from the gateway and returns the location
// of its device description.
func parseSSDP(b []byte, gateway netip.Addr) (*url.URL, error) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: SSDP answer: %v", ErrMalformed, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: SSDP status %d", ErrRefused, resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("%w: SSDP answer without LOCATION", ErrMalformed)
	}
	return onGateway(loc, nil, gateway)
}

// description is the part of a UPnP device description this package reads.
type description struct {
	URLBase string `xml:"URLBase"`
	Device  device `xml:"device"`
}

type device struct {
	Services []struct {
		Type    string `xml:"serviceType"`
		Control string `xml:"controlURL"`
	} `xml:"serviceList>service"`
	Devices []device `xml:"deviceList>device"`
}

// igdService is the control point of a WAN connection service.
type igdService struct {
	Type    string
	Control *url.URL
}

// parseDescription finds the best WAN connection service in a device description
// fetched from location, whose control URL must be on the gateway.
func parseDescription(body []byte, location *url.URL, gateway netip.Addr) (igdService, error) {
	var d description
	if err := xml.Unmarshal(body, &d); err != nil {
		return igdService{}, fmt.Errorf("%w: device description: %v", ErrMalformed, err)
	}
	base := location
	if d.URLBase != "" {
		b, err := onGateway(d.URLBase, location, gateway)
		if err != nil {
			return igdService{}, err
		}
		base = b
	}
	found := map[string]string{}
	var walk func(dev device, depth int)
	walk = func(dev device, depth int) {
		if depth > 8 {
			return
		}
		for _, s := range dev.Services {
			if _, ok := found[strings.TrimSpace(s.Type)]; !ok {
				found[strings.TrimSpace(s.Type)] = s.Control
			}
		}
		for _, sub := range dev.Devices {
			walk(sub, depth+1)
		}
	}
	walk(d.Device, 0)
	for _, typ := range igdServices {
		ctl, ok := found[typ]
		if !ok {
			continue
		}
		u, err := onGateway(ctl, base, gateway)
		if err != nil {
			return igdService{}, err
		}
		return igdService{Type: typ, Control: u}, nil
	}
	return igdService{}, fmt.Errorf("%w: the device has no WAN connection service", ErrUnsupported)
}

// soapRequest builds the SOAP envelope of a UPnP action; args are name, value pairs in
// the order the action declares them.
func soapRequest(service, action string, args ...string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0"?>` + "\r\n" +
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>`)
	fmt.Fprintf(&b, `<u:%s xmlns:u="%s">`, action, service)
	for i := 0; i+1 < len(args); i += 2 {
		fmt.Fprintf(&b, "<%s>", args[i])
		_ = xml.EscapeText(&b, []byte(args[i+1]))
		fmt.Fprintf(&b, "</%s>", args[i])
	}
	fmt.Fprintf(&b, `</u:%s></s:Body></s:Envelope>`, action)
	return b.Bytes()
}

// upnpError is a SOAP fault with a UPnP error code.
type upnpError struct {
	Code int
	Desc string
}

func (e *upnpError) Error() string {
	return fmt.Sprintf("%v: UPnP error %d (%s)", ErrRefused, e.Code, e.Desc)
}

func (e *upnpError) Unwrap() error { return ErrRefused }

// parseSOAP parses the answer to action: the out arguments by name, or the fault as a
// *upnpError.
func parseSOAP(body []byte, action string) (map[string]string, error) {
	dec := xml.NewDecoder(io.LimitReader(bytes.NewReader(body), maxDescription))
	out := map[string]string{}
	var inResponse, inFault bool
	var field string
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: SOAP answer to %s: %v", ErrMalformed, action, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Local == action+"Response":
				inResponse = true
			case t.Name.Local == "Fault":
				inFault = true
			case inResponse || inFault:
				field = t.Name.Local
				text.Reset()
			}
		case xml.CharData:
			if field != "" && text.Len() < 1024 {
				text.Write(t)
			}
		case xml.EndElement:
			if field != "" && t.Name.Local == field {
				if len(out) < 32 {
					out[field] = strings.TrimSpace(text.String())
				}
				field = ""
			}
		}
	}
	if inFault {
		code, err := strconv.Atoi(out["errorCode"])
		if err != nil {
			return nil, fmt.Errorf("%w: SOAP fault without an error code", ErrMalformed)
		}
		return nil, &upnpError{Code: code, Desc: out["errorDescription"]}
	}
	if !inResponse {
		return nil, fmt.Errorf("%w: SOAP answer has no %sResponse", ErrMalformed, action)
	}
	return out, nil
}
