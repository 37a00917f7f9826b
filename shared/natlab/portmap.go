package natlab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/testenv"
)

// PortMapper is a set of port-mapping protocols a home router serves with miniupnpd.
type PortMapper int

const (
	// UPnP is UPnP-IGD (SSDP on port 1900, HTTP on port MiniUPnPdHTTPPort).
	UPnP PortMapper = 1 << iota
	// NATPMP is NAT-PMP and PCP together: miniupnpd serves both on port 5351 and
	// cannot enable one without the other (a client forced to one tests each).
	NATPMP
	// AllPortMappers is every protocol miniupnpd serves.
	AllPortMappers = UPnP | NATPMP
)

// MiniUPnPdHTTPPort is the port of miniupnpd's UPnP HTTP server in the lab.
const MiniUPnPdHTTPPort = 2189

// MiniUPnPdMinLifetime is the shortest lifetime the lab's miniupnpd grants, so a test
// of renewals need not wait minutes (miniupnpd's own default is 120 s).
const MiniUPnPdMinLifetime = 4

// The address plan of a port-mapping router's internet link k: 11.0.k.0/24 (inet .1,
// router .2). Not reserved, unlike 198.18/15: miniupnpd refuses to map behind a
// reserved address. The lab has no route out, so nothing leaves it.
func publicLinkNet(k int) (inet, node netip.Prefix) {
	return netip.MustParsePrefix(fmt.Sprintf("11.0.%d.1/24", k)), netip.MustParsePrefix(fmt.Sprintf("11.0.%d.2/24", k))
}

func (h Home) validateExtras() error {
	if h.PortMap&^AllPortMappers != 0 {
		return fmt.Errorf("natlab: home %q: unknown port mapper %d", h.Name, int(h.PortMap))
	}
	if h.PortMap != 0 && h.CGN {
		return fmt.Errorf("natlab: home %q: miniupnpd behind a CGN has no public address to map", h.Name)
	}
	if h.IPv6 && h.CGN {
		return fmt.Errorf("natlab: home %q: IPv6 behind a CGN is not built", h.Name)
	}
	return nil
}

// buildExtras gives port-mapping routers their public address and miniupnpd's
// chains, and dual-stack homes their IPv6.
func (l *Lab) buildExtras(ctx context.Context, cfg Config) error {
	for _, h := range cfg.Homes {
		if h.PortMap == 0 {
			continue
		}
		if err := l.publicRouter(ctx, h); err != nil {
			return fmt.Errorf("natlab: home %s: %w", h.Name, err)
		}
	}
	return l.buildIPv6(ctx, cfg)
}

// publicRouter moves the home router's internet link to a non-reserved address and
// makes the legacy-iptables chains miniupnpd adds its rules to (what Debian's
// iptables_init.sh makes).
func (l *Lab) publicRouter(ctx context.Context, h Home) error {
	router := l.nodes[h.Name+"-nat"]
	inet := l.nodes["inet"]
	k := router.link
	oldInet, oldNode := linkNet(k)
	newInet, newNode := publicLinkNet(k)
	dev := "n" + strconv.Itoa(k)
	for _, c := range [][]string{
		{"ip", "-n", inet.NS, "addr", "del", oldInet.String(), "dev", dev},
		{"ip", "-n", inet.NS, "addr", "add", newInet.String(), "dev", dev},
		{"ip", "-n", router.NS, "addr", "del", oldNode.String(), "dev", "wan"},
		{"ip", "-n", router.NS, "addr", "add", newNode.String(), "dev", "wan"},
		{"ip", "-n", router.NS, "route", "replace", "default", "via", newInet.Addr().String()},
	} {
		if _, err := run(ctx, c[0], c[1:]...); err != nil {
			return err
		}
	}
	for _, n := range l.nodes {
		if n.link == k {
			n.Public = newNode.Addr()
			if n == router {
				n.Addr = newNode.Addr()
			}
		}
	}
	for _, c := range [][]string{
		{"-t", "nat", "-N", "MINIUPNPD"},
		{"-t", "nat", "-I", "PREROUTING", "-i", "wan", "-j", "MINIUPNPD"},
		{"-t", "nat", "-N", "MINIUPNPD-POSTROUTING"},
		{"-t", "nat", "-I", "POSTROUTING", "-o", "wan", "-j", "MINIUPNPD-POSTROUTING"},
		{"-t", "filter", "-N", "MINIUPNPD"},
		{"-t", "filter", "-I", "FORWARD", "-i", "wan", "!", "-o", "wan", "-j", "MINIUPNPD"},
	} {
		if _, err := router.Exec(ctx, "iptables-legacy", append([]string{"-w"}, c...)...); err != nil {
			return err
		}
	}
	return nil
}

// miniupnpdConf is the configuration of a lab router's miniupnpd.
func miniupnpdConf(p PortMapper) string {
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	return strings.Join([]string{
		"ext_ifname=wan",
		"listening_ip=lan",
		"http_port=" + strconv.Itoa(MiniUPnPdHTTPPort),
		"enable_upnp=" + yes(p&UPnP != 0),
		"enable_natpmp=" + yes(p&NATPMP != 0),
		"secure_mode=yes",
		"system_uptime=no",
		"notify_interval=60",
		"clean_ruleset_interval=600",
		"ipv6_disable=yes",
		"min_lifetime=" + strconv.Itoa(MiniUPnPdMinLifetime),
		"max_lifetime=86400",
		"uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b",
		"allow 1024-65535 10.0.0.0/8 1024-65535",
		"deny 0-65535 0.0.0.0/0 0-65535",
		"",
	}, "\n")
}

// startPortMappers runs miniupnpd on the router of every home that asks for one, until
// t ends.
func (l *Lab) startPortMappers(t testing.TB, cfg Config) {
	t.Helper()
	for _, h := range cfg.Homes {
		if h.PortMap != 0 {
			l.StartMiniUPnPd(t, h.Name, h.PortMap)
		}
	}
}

// StartMiniUPnPd runs miniupnpd serving protocols on the router of the named home
// (built with Home.PortMap) until t ends or the Process is stopped, and waits until
// it listens. New starts one for each Home.PortMap; a test calls this to start one
// again after stopping it, or with other protocols.
func (l *Lab) StartMiniUPnPd(t testing.TB, home string, protocols PortMapper) *Process {
	t.Helper()
	testenv.Command(t, "miniupnpd", "miniupnpd-iptables")
	testenv.Command(t, "iptables-legacy", "iptables")
	router := l.Host(home + "-nat")
	dir := t.TempDir()
	conf := filepath.Join(dir, "miniupnpd.conf")
	if err := os.WriteFile(conf, []byte(miniupnpdConf(protocols)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := router.Start(t, "miniupnpd", "-d", "-f", conf, "-P", filepath.Join(dir, "miniupnpd.pid"))
	var port string
	proto := "-lun"
	if protocols&NATPMP != 0 {
		port = "5351"
	} else {
		proto, port = "-ltn", strconv.Itoa(MiniUPnPdHTTPPort)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := router.Exec(context.Background(), "ss", "-H", proto, "sport", "=", ":"+port)
		if err == nil && strings.TrimSpace(out) != "" {
			return p
		}
		select {
		case <-p.Exited():
			t.Fatalf("natlab: miniupnpd on %s exited: %s", router.Name, p.Output())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("natlab: miniupnpd on %s does not listen on %s after 10 s: %s", router.Name, port, p.Output())
		}
	}
}

// PortMappings lists the rules miniupnpd holds on the named home's router: its DNAT
// rules (`iptables-legacy -t nat -L MINIUPNPD -n`: external port as "udp dpt:N"; this
// iptables cannot print the DNAT target miniupnpd writes) and its filter rules
// (`-t filter -L MINIUPNPD -n`: internal host and port). miniupnpd drives legacy
// iptables, whose rules the nftables-based `iptables` does not show.
func (l *Lab) PortMappings(ctx context.Context, home string) (string, error) {
	n := l.nodes[home+"-nat"]
	if n == nil {
		return "", fmt.Errorf("natlab: no home %q", home)
	}
	var all strings.Builder
	for _, table := range []string{"nat", "filter"} {
		out, err := n.Exec(ctx, "iptables-legacy", "-w", "-t", table, "-L", "MINIUPNPD", "-n")
		if err != nil {
			return "", err
		}
		all.WriteString(out)
	}
	return all.String(), nil
}
