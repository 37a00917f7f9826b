package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/natlab"
)

// addFriend has p add q by ID alone.
func addFriend(t *testing.T, p, q *labPeer) {
	t.Helper()
	if _, err := kithCLI("--home", p.home, "friend", "add", q.id, "--name", q.name); err != nil {
		t.Fatal(err)
	}
}

// TestReachOpenRouters (issue 20) runs real daemons behind home routers with no input
// firewall (plain MASQUERADE, as many ship) and a carrier-grade NAT without one either.
// For each pair, in both orders of who adds whom first and who syncs first, `kith sync`
// issued right after both daemons started succeeds and both sides end on a direct path.
// An offer to a peer that has not added the caller yet is ignored and leaves no
// conntrack entry from the caller on that peer's router.
func TestReachOpenRouters(t *testing.T) {
	t.Parallel()
	open := func(name string, cgn bool) natlab.Home {
		return natlab.Home{Name: name, NAT: natlab.PortRestricted, CGN: cgn, NoInputFirewall: true}
	}
	lab := natlab.New(t, natlab.Config{
		Public: []string{"rv"},
		Homes: []natlab.Home{
			open("oa1", false), open("oa2", false), open("ob1", false), open("ob2", false),
			open("oc1", true), open("oc2", false), open("od1", true), open("od2", false),
			open("oe1", true), open("oe2", true),
		},
	})
	rv, _ := startRendezvous(t, lab, "rv", 7000, 3478)
	for _, tc := range []struct {
		name         string
		first, other string // first adds other, then other adds first; first syncs first
	}{
		{"open-open/first-adds-and-syncs", "oa1", "oa2"},
		{"open-open/second-adds-and-syncs", "ob2", "ob1"},
		{"cgn-open/cgn-first", "oc1", "oc2"},
		{"cgn-open/open-first", "od2", "od1"},
		{"cgn-cgn", "oe1", "oe2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			peers := startLabPeers(t, lab, []string{tc.first, tc.other}, rv)
			a, b := peers[tc.first], peers[tc.other]
			a.post(t, "hello from "+a.name)
			b.post(t, "hello from "+b.name)
			addFriend(t, a, b)
			// a's node offers to b at once (it follows its new friend); b, who does not
			// know a yet, ignores it: nothing may have reached b's router from a.
			if out, err := kithCLI("--home", a.home, "sync", b.id); err == nil {
				t.Errorf("%s: kith sync to a peer that has not added us succeeded:\n%s", tc.name, out)
			}
			assertNoEntryFrom(t, lab, b.name, a)
			addFriend(t, b, a)
			for _, s := range [][2]*labPeer{{a, b}, {b, a}} {
				if out, err := kithCLI("--home", s[0].home, "sync", s[1].id); err != nil {
					t.Errorf("%s: kith sync on %s: %v\n%s", tc.name, s[0].name, err, out)
				}
				if !eventually(20*time.Second, func() bool { return s[0].holds(s[1], "hello from "+s[1].name) }) {
					t.Fatalf("%s: %s's timeline lacks %s's post after 20 s", tc.name, s[0].name, s[1].name)
				}
			}
			for _, s := range [][2]*labPeer{{a, b}, {b, a}} {
				var path, remote string
				if !eventually(45*time.Second, func() bool { path, remote = s[0].path(s[1]); return path == "direct" }) {
					t.Errorf("%s: %s reaches %s by %q (remote %q), want direct", tc.name, s[0].name, s[1].name, path, remote)
				}
			}
		})
	}
}

// assertNoEntryFrom fails when the router of home holds a UDP conntrack entry whose
// source is from's public address: a packet of from's reached it.
func assertNoEntryFrom(t *testing.T, lab *natlab.Lab, home string, from *labPeer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := lab.Host(home + "-nat").Conntrack(ctx)
	if err != nil {
		t.Fatalf("conntrack -L on %s's router: %v\n%s", home, err, out)
	}
	ip := from.node.Public.String()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "udp") && strings.Contains(l, "src="+ip+" ") {
			t.Errorf("an ignored offer left a conntrack entry from %s (%s) on %s's router:\n%s", from.name, ip, home, l)
		}
	}
}

// TestReachWithoutRendezvous (issue 20): two friends behind port-restricted routers
// without an input firewall (plain MASQUERADE) that reached each other directly keep
// their last direct addresses; with the rendezvous killed, both daemons restart and
// still reach each other (each redials the other's last direct address: their QUIC
// Initials cross like punches) and `kith sync` works.
func TestReachWithoutRendezvous(t *testing.T) {
	t.Parallel()
	lab := natlab.New(t, natlab.Config{
		Public: []string{"rv"},
		Homes: []natlab.Home{{Name: "nr1", NAT: natlab.PortRestricted, NoInputFirewall: true},
			{Name: "nr2", NAT: natlab.PortRestricted, NoInputFirewall: true}},
	})
	rv, proc := startRendezvous(t, lab, "rv", 7000, 3478)
	peers := startLabPeers(t, lab, []string{"nr1", "nr2"}, rv, "--keepalive", "2s")
	a, b := peers["nr1"], peers["nr2"]
	befriend(t, a, b, false)
	syncBoth(t, "nr1(port-restricted, open router)<->nr2(port-restricted, open router)", a, b, "direct", 20*time.Second)
	_ = proc.Kill()
	<-proc.Exited()
	for _, p := range []*labPeer{a, b} {
		if err := p.proc.Stop(); err != nil {
			t.Logf("%s: stop: %v", p.name, err)
		}
		<-p.proc.Exited()
	}
	for _, p := range []*labPeer{a, b} {
		p.proc = p.node.Start(t, filepath.Join(binDir, "kith"), "--home", p.home, "daemon", "--listen", ":4700", "--rendezvous", rv, "--keepalive", "2s")
		p.waitStatus(t, 20*time.Second, "answering (no rendezvous)", func(labStatus) bool { return true })
	}
	a.post(t, "after both restarted without a rendezvous")
	if !eventually(30*time.Second, func() bool {
		kithCLI("--home", b.home, "sync", a.id)
		return b.holds(a, "after both restarted without a rendezvous")
	}) {
		t.Fatalf("rendezvous killed, both restarted: nr2 did not get nr1's new post within 30 s\n%s", b.proc.Output())
	}
	var path, remote string
	if !eventually(20*time.Second, func() bool { path, remote = b.path(a); return path == "direct" }) {
		t.Errorf("without a rendezvous nr2 reaches nr1 by %q (remote %q), want direct", path, remote)
	}
}

// TestRendezvousRestart: a community's rendezvous restarts (an upgrade), in-memory, so
// it forgets every registration. Friends that were registered with it register again
// on their own, and a friend started after the restart finds them through it, over
// the path their NATs allow: direct between port-restricted NATs, relayed between
// symmetric ones. The callees are not restarted: only their own re-registration lets
// the offers reach them.
func TestRendezvousRestart(t *testing.T) {
	t.Parallel()
	lab := natlab.New(t, natlab.Pairs(0))
	rv, proc := startRendezvous(t, lab, "rv", 7000, 3478)
	flags := []string{"--follow=false"}
	peers := startLabPeers(t, lab, []string{"pr1", "pr2", "sym1", "sym2"}, rv, flags...)
	befriend(t, peers["pr1"], peers["pr2"], false)
	befriend(t, peers["sym1"], peers["sym2"], false)
	_ = proc.Kill()
	<-proc.Exited()
	startRendezvous(t, lab, "rv", 7000, 3478)
	for _, pc := range []struct{ callee, caller, path string }{{"pr1", "pr2", "direct"}, {"sym1", "sym2", "relay"}} {
		callee, caller := peers[pc.callee], peers[pc.caller]
		_ = caller.proc.Stop()
		<-caller.proc.Exited()
		caller.start(t, rv, flags...) // waits until it is registered with the new instance
		callee.post(t, "after the rendezvous restarted")
		var out string
		ok := eventually(30*time.Second, func() bool {
			out, _ = kithCLI("--home", caller.home, "sync", callee.id)
			return caller.holds(callee, "after the rendezvous restarted")
		})
		if !ok {
			t.Fatalf("%s -> %s after a rendezvous restart: no post within 30 s; last sync said %q\n%s", pc.caller, pc.callee, out, callee.proc.Output())
		}
		if !strings.Contains(out, "("+pc.path+")") {
			t.Errorf("%s -> %s after a rendezvous restart: sync said %q, want the %s path", pc.caller, pc.callee, out, pc.path)
		}
	}
}

// TestReachAfterOutage: a home's internet goes down for longer than a connection's
// idle timeout (an ISP outage, a laptop asleep), then comes back. While it is down
// the friend's status stops saying "connected" within a few keepalives; once it is
// back, the node registers again and the friend, following it, has its new post
// within reachAfterOutage without anyone running a command. Before the rendezvous
// client had keepalives of its own, its session sat on the dead TCP connection until
// TCP's backed-off retransmission found the link again (17-20 s after a 40 s outage,
// minutes after longer ones).
func TestReachAfterOutage(t *testing.T) {
	t.Parallel()
	const outage, reachAfterOutage = 45 * time.Second, 12 * time.Second
	lab := natlab.New(t, natlab.Pairs(0))
	rv, _ := startRendezvous(t, lab, "rv", 7000, 3478)
	peers := startLabPeers(t, lab, []string{"pr1", "pr2"}, rv, "--keepalive", "2s")
	a, b := peers["pr1"], peers["pr2"]
	befriend(t, a, b, false)
	syncBoth(t, "pr1<->pr2", a, b, "direct", 20*time.Second)
	ctx := context.Background()
	if err := lab.LinkDown(ctx, "pr1"); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	if !eventually(10*time.Second, func() bool { p, _ := b.path(a); return p == "" }) {
		t.Errorf("pr1's link down: pr2's status still says connected after 10 s (keepalive 2 s)")
	}
	time.Sleep(outage - time.Since(down))
	if err := lab.LinkUp(ctx, "pr1"); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	a.post(t, "after the outage")
	if !eventually(reachAfterOutage, func() bool { return b.holds(a, "after the outage") }) {
		t.Fatalf("pr1's link back after a %v outage: pr2 (following it) lacks its new post after %v\npr1:\n%s", outage, reachAfterOutage, a.proc.Output())
	}
	t.Logf("pr1's link back after a %v outage: pr2 had its new post %v later", outage, time.Since(up).Round(100*time.Millisecond))
}

// TestReachBirthday (issue 20): a peer behind a symmetric NAT and one behind a
// port-restricted NAT end on a direct path by the birthday method (the symmetric side
// opens 256 spare sockets, the other sprays random ports of its public IP), routers with
// and without an input firewall, in both orders of who adds whom first and who syncs
// first. The symmetric side's log says the spray reached a spare socket, and the
// connection it keeps to the port-restricted side is on a spare socket, not its listening one.
func TestReachBirthday(t *testing.T) {
	t.Parallel()
	home := func(name string, kind natlab.NAT, open bool) natlab.Home {
		return natlab.Home{Name: name, NAT: kind, NoInputFirewall: open}
	}
	lab := natlab.New(t, natlab.Config{
		Public: []string{"rv"},
		Homes: []natlab.Home{
			home("bs1", natlab.Symmetric, true), home("bp1", natlab.PortRestricted, true),
			home("bs2", natlab.Symmetric, true), home("bp2", natlab.PortRestricted, true),
			home("bs3", natlab.Symmetric, false), home("bp3", natlab.PortRestricted, false),
			home("bs4", natlab.Symmetric, false), home("bp4", natlab.PortRestricted, false),
		},
	})
	rv, _ := startRendezvous(t, lab, "rv", 7000, 3478)
	for _, tc := range []struct {
		name         string
		first, other string // first adds other, then other adds first; first syncs first
		sym          string
	}{
		{"symmetric-port-restricted/open-routers/symmetric-first", "bs1", "bp1", "bs1"},
		{"symmetric-port-restricted/open-routers/port-restricted-first", "bp2", "bs2", "bs2"},
		{"symmetric-port-restricted/firewalled-routers/symmetric-first", "bs3", "bp3", "bs3"},
		{"symmetric-port-restricted/firewalled-routers/port-restricted-first", "bp4", "bs4", "bs4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			peers := startLabPeers(t, lab, []string{tc.first, tc.other}, rv)
			a, b := peers[tc.first], peers[tc.other]
			sym, easy := peers[tc.sym], a
			if easy == sym {
				easy = b
			}
			addFriend(t, a, b)
			addFriend(t, b, a)
			for _, s := range [][2]*labPeer{{a, b}, {b, a}} {
				s[1].post(t, "hello from "+s[1].name)
				if out, err := kithCLI("--home", s[0].home, "sync", s[1].id); err != nil {
					t.Errorf("%s: kith sync on %s: %v\n%s", tc.name, s[0].name, err, out)
				}
				if !eventually(20*time.Second, func() bool { return s[0].holds(s[1], "hello from "+s[1].name) }) {
					t.Fatalf("%s: %s's timeline lacks %s's post after 20 s", tc.name, s[0].name, s[1].name)
				}
			}
			for _, s := range [][2]*labPeer{{a, b}, {b, a}} {
				var path, remote string
				// 45 s: one upgrade round (35 s) more if the first attempt missed (1 in 3,400).
				if !eventually(45*time.Second, func() bool { path, remote = s[0].path(s[1]); return path == "direct" }) {
					t.Errorf("%s: %s reaches %s by %q (remote %q), want direct", tc.name, s[0].name, s[1].name, path, remote)
				}
			}
			// The spray finds one of the hard side's mappings: a spare socket's, or (1 in
			// 257) the listening socket's own mapping towards the easy side.
			out := sym.proc.Output()
			onListener := strings.Contains(out, "birthday: the spray reached the listening socket")
			onSpare := strings.Contains(out, "birthday: the spray reached a spare socket")
			if !onSpare && !onListener {
				t.Errorf("%s: %s (symmetric) never had a spare socket reached:\n%s", tc.name, sym.name, out)
			}
			// The symmetric side's direct connection is on the socket the spray reached:
			// a spare one unless the log says the listening one. (The port the easy side
			// sees proves nothing: through a symmetric NAT every socket's port towards
			// it is a fresh random one.)
			st, err := sym.status()
			if err != nil {
				t.Fatal(err)
			}
			_, listenPort, _ := net.SplitHostPort(st.Listen)
			var path, local string
			if !eventually(10*time.Second, func() bool {
				path, _, local = sym.pathFrom(easy)
				_, port, _ := net.SplitHostPort(local)
				return path == "direct" && port != "" && (onSpare && port != listenPort || onListener && port == listenPort)
			}) {
				t.Errorf("%s: %s reaches %s by %q from %q, want direct from the socket the spray reached (listening on %s; spare reached: %v, listening reached: %v)",
					tc.name, sym.name, easy.name, path, local, st.Listen, onSpare, onListener)
			}
		})
	}
}

// TestReachPortMapped (issue 20): a peer whose router runs a real port-mapping daemon
// (miniupnpd: UPnP-IGD, NAT-PMP and PCP) maps its socket and publishes the mapping as
// a candidate; its router is a symmetric NAT, and so is the other peer's, so without
// the mapping only the relay would do (sym1-sym2 in TestNATMatrixBinaries; this test
// with --portmap=false ends relayed). Both end direct, the symmetric peer reaching the
// mapped port, in both orders of who adds whom first and who syncs first. (miniupnpd
// also sends the host's own traffic from the mapped port, so the peer's STUN-mapped
// address becomes the mapped one and its NAT endpoint-independent: the reflexive
// candidate then names the mapping too.)
func TestReachPortMapped(t *testing.T) {
	t.Parallel()
	lab := natlab.New(t, natlab.Config{
		Public: []string{"rv"},
		Homes: []natlab.Home{
			{Name: "pm1", NAT: natlab.Symmetric, PortMap: natlab.AllPortMappers}, {Name: "ps1", NAT: natlab.Symmetric},
			{Name: "pm2", NAT: natlab.Symmetric, PortMap: natlab.AllPortMappers}, {Name: "ps2", NAT: natlab.Symmetric},
		},
	})
	rv, _ := startRendezvous(t, lab, "rv", 7000, 3478)
	for _, tc := range []struct {
		name         string
		first, other string // first adds other, then other adds first; first syncs first
		mapped       string
	}{
		{"port-mapped(symmetric)-symmetric/mapped-first", "pm1", "ps1", "pm1"},
		{"port-mapped(symmetric)-symmetric/symmetric-first", "ps2", "pm2", "pm2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			peers := startLabPeers(t, lab, []string{tc.first, tc.other}, rv)
			a, b := peers[tc.first], peers[tc.other]
			pm, sym := peers[tc.mapped], a
			if sym == pm {
				sym = b
			}
			if !eventually(10*time.Second, func() bool { return strings.Contains(pm.proc.Output(), "portmap: mapped") }) {
				t.Errorf("%s: %s never logged a port mapping:\n%s", tc.name, pm.name, pm.proc.Output())
			}
			addFriend(t, a, b)
			addFriend(t, b, a)
			for _, s := range [][2]*labPeer{{a, b}, {b, a}} {
				s[1].post(t, "hello from "+s[1].name)
				if out, err := kithCLI("--home", s[0].home, "sync", s[1].id); err != nil {
					t.Errorf("%s: kith sync on %s: %v\n%s", tc.name, s[0].name, err, out)
				}
				if !eventually(20*time.Second, func() bool { return s[0].holds(s[1], "hello from "+s[1].name) }) {
					t.Fatalf("%s: %s's timeline lacks %s's post after 20 s", tc.name, s[0].name, s[1].name)
				}
			}
			for _, s := range [][2]*labPeer{{a, b}, {b, a}} {
				var path, remote string
				if !eventually(45*time.Second, func() bool { path, remote = s[0].path(s[1]); return path == "direct" }) {
					t.Errorf("%s: %s reaches %s by %q (remote %q), want direct", tc.name, s[0].name, s[1].name, path, remote)
				}
			}
			_, remote := sym.path(pm)
			ap, err := netip.ParseAddrPort(remote)
			if err != nil {
				t.Fatalf("%s: %s's remote for %s: %q: %v", tc.name, sym.name, pm.name, remote, err)
			}
			rules, err := lab.PortMappings(context.Background(), pm.name)
			if err != nil {
				t.Fatal(err)
			}
			if ap.Addr().Unmap() != pm.node.Public || !regexp.MustCompile(fmt.Sprintf(`dpt:%d\b`, ap.Port())).MatchString(rules) {
				t.Errorf("%s: %s reaches %s at %s, want %s's mapped port (%s's rules:\n%s)", tc.name, sym.name, pm.name, remote, pm.node.Public, pm.name, rules)
			}
		})
	}
}

// TestReachIPv6 (issue 20): dual-stack homes whose routers run a stateful ip6tables
// firewall (only flows a LAN host started get in). Two daemons connect directly over
// IPv6, punching through both firewalls, and prefer it: between two symmetric NATs,
// where IPv4 has only the relay, and between two port-restricted ones, where IPv4
// would work too.
func TestReachIPv6(t *testing.T) {
	t.Parallel()
	lab := natlab.New(t, natlab.Config{
		Public: []string{"rv"},
		Homes: []natlab.Home{
			{Name: "vs1", NAT: natlab.Symmetric, IPv6: true}, {Name: "vs2", NAT: natlab.Symmetric, IPv6: true},
			{Name: "vp1", NAT: natlab.PortRestricted, IPv6: true}, {Name: "vp2", NAT: natlab.PortRestricted, IPv6: true},
		},
	})
	rv, _ := startRendezvous(t, lab, "rv", 7000, 3478)
	for _, tc := range []struct{ name, first, other string }{
		{"ipv6-firewalled/symmetric-symmetric", "vs1", "vs2"},
		{"ipv6-firewalled/port-restricted-port-restricted", "vp2", "vp1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			peers := startLabPeers(t, lab, []string{tc.first, tc.other}, rv)
			a, b := peers[tc.first], peers[tc.other]
			addFriend(t, a, b)
			addFriend(t, b, a)
			for _, s := range [][2]*labPeer{{a, b}, {b, a}} {
				s[1].post(t, "hello from "+s[1].name)
				if out, err := kithCLI("--home", s[0].home, "sync", s[1].id); err != nil {
					t.Errorf("%s: kith sync on %s: %v\n%s", tc.name, s[0].name, err, out)
				}
				if !eventually(20*time.Second, func() bool { return s[0].holds(s[1], "hello from "+s[1].name) }) {
					t.Fatalf("%s: %s's timeline lacks %s's post after 20 s", tc.name, s[0].name, s[1].name)
				}
			}
			for _, s := range [][2]*labPeer{{a, b}, {b, a}} {
				want := netip.AddrPortFrom(s[1].node.Addr6, 4700).String()
				var path, remote string
				if !eventually(30*time.Second, func() bool { path, remote = s[0].path(s[1]); return path == "direct" && remote == want }) {
					t.Errorf("%s: %s reaches %s by %q at %q, want direct over IPv6 at %s", tc.name, s[0].name, s[1].name, path, remote, want)
				}
			}
		})
	}
}

// TestReachDialBack (issue 20): two friends behind port-restricted routers without an
// input firewall have reached each other directly. The caller's daemon restarts on
// another port: its next `kith sync` is carried by the friend's dial-back (the caller's
// log says how=dial-back, the friend's "dialled a friend back"), on a direct path. Then
// the friend restarts on another port: the caller's last address of it is stale, the
// friend does not dial back, and the sync still ends direct the ordinary way (the
// caller's opener towards the stale address spoilt nothing on the open routers). The
// same on routers with an input firewall. 30 ms one way on every internet link, so the
// dial-back's half round trip shows.
func TestReachDialBack(t *testing.T) {
	t.Parallel()
	lab := natlab.New(t, natlab.Config{
		Public: []string{"rv"},
		Homes: []natlab.Home{{Name: "db1", NAT: natlab.PortRestricted, NoInputFirewall: true},
			{Name: "db2", NAT: natlab.PortRestricted, NoInputFirewall: true},
			{Name: "df1", NAT: natlab.PortRestricted}, {Name: "df2", NAT: natlab.PortRestricted}},
		// With no delay the punch and the dial-back finish together; with 30 ms one
		// way the dial-back is 30 ms ahead (2.5 round trips against 3).
		Netem: natlab.Netem{Delay: 30 * time.Millisecond},
	})
	rv, _ := startRendezvous(t, lab, "rv", 7000, 3478)
	for _, tc := range []struct{ name, caller, friend string }{
		{"open-routers", "db1", "db2"},
		{"firewalled-routers", "df1", "df2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dialBackLab(t, lab, rv, tc.caller, tc.friend)
		})
	}
}

// dialBackLab is TestReachDialBack for one pair of homes.
func dialBackLab(t *testing.T, lab *natlab.Lab, rv, callerHost, friendHost string) {
	// Without following, only the syncs below connect the two.
	peers := startLabPeers(t, lab, []string{callerHost, friendHost}, rv, "--follow=false")
	caller, friend := peers[callerHost], peers[friendHost]
	befriend(t, caller, friend, false)
	restart := func(p *labPeer) {
		_ = p.proc.Stop()
		<-p.proc.Exited()
		p.start(t, rv, "--follow=false", "--listen", ":0")
	}
	// syncOnce posts on the friend, syncs the caller, checks that it connected on a
	// direct path, and returns what each daemon logged meanwhile and the way the
	// caller's "connected" line names.
	syncOnce := func(text string) (callerLog, friendLog, how string) {
		friend.post(t, text)
		cm, fm := len(caller.proc.Output()), len(friend.proc.Output())
		if out, err := kithCLI("--home", caller.home, "sync", friend.id); err != nil {
			t.Fatalf("kith sync (%s): %v\n%s", text, err, out)
		}
		if !eventually(20*time.Second, func() bool { return caller.holds(friend, text) }) {
			t.Fatalf("%s: the caller lacks the friend's post after 20 s", text)
		}
		callerLog, friendLog = caller.proc.Output()[cm:], friend.proc.Output()[fm:]
		// (Not `kith status`: without following, the connection closes after the sync.)
		m := regexp.MustCompile(`msg=connected .*path=(\S+) .*how=(\S+)`).FindStringSubmatch(callerLog)
		if m == nil || m[1] != "direct" {
			t.Fatalf("%s: the caller connected %q, want a direct path; its log:\n%s", text, m, callerLog)
		}
		return callerLog, friendLog, m[2]
	}

	if _, _, how := syncOnce("before any restart"); how == "dial-back" {
		t.Errorf("the first sync was a dial-back: the caller knew no address of the friend's yet")
	}

	restart(caller)
	callerLog, friendLog, how := syncOnce("after the caller restarted")
	if how != "dial-back" || !strings.Contains(friendLog, "dialled a friend back") {
		t.Errorf("the caller restarted: connected by %q, want dial-back; the caller's log:\n%s\nthe friend's:\n%s", how, callerLog, friendLog)
	}

	restart(friend)
	callerLog, friendLog, how = syncOnce("after the friend restarted")
	if how == "dial-back" || strings.Contains(friendLog, "dialling a friend back") {
		t.Errorf("the friend restarted on another port, yet it dialled back (connected by %q); the caller's log:\n%s\nthe friend's:\n%s", how, callerLog, friendLog)
	}
}
