package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/discovery"
	"github.com/kithnet/kith/peer/store"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/natlab"
	"github.com/kithnet/kith/shared/testenv"
)

// TestRendezvousSeesNoSecrets (issue 13, items 4 and 5): a full session with the real
// binaries in the NAT lab — two friends behind symmetric NATs register, offer, answer,
// fall back to the TURN relay and sync — while Redis MONITOR records every command the
// rendezvous sends. Afterwards the test opens every sealed offer with its target's key
// (as only the target can) and checks that neither the capture nor the rendezvous' log
// shows any caller identity in an offer, any candidate address in plain text, or any
// punch secret.
func TestRendezvousSeesNoSecrets(t *testing.T) {
	t.Parallel()
	redisServer := testenv.Command(t, "redis-server", "redis-server")
	redisCLI := testenv.Command(t, "redis-cli", "redis-tools")
	lab := natlab.New(t, natlab.Config{
		Public: []string{"mrv"},
		Homes:  []natlab.Home{{Name: "mon1", NAT: natlab.Symmetric}, {Name: "mon2", NAT: natlab.Symmetric}},
	})
	rvNode := lab.Host("mrv")
	redisAddr := netip.AddrPortFrom(rvNode.Addr, 6379).String()
	rvNode.Start(t, redisServer, "--bind", rvNode.Addr.String(), "--port", "6379", "--save", "", "--appendonly", "no", "--protected-mode", "no")
	if !eventually(10*time.Second, func() bool {
		out, err := rvNode.Exec(context.Background(), redisCLI, "-h", rvNode.Addr.String(), "ping")
		return err == nil && strings.Contains(out, "PONG")
	}) {
		t.Fatal("redis-server in the lab does not answer PING after 10 s")
	}
	monitor := rvNode.Start(t, redisCLI, "-h", rvNode.Addr.String(), "monitor")
	grpcAddr := netip.AddrPortFrom(rvNode.Addr, 7000).String()
	rv := rvNode.Start(t, filepath.Join(binDir, "kith-rendezvous"), "--listen", grpcAddr,
		"--stun", netip.AddrPortFrom(rvNode.Addr, 3478).String(), "--redis", "redis://"+redisAddr,
		"--turn-secret", "lab-secret", "--turn-relay-ip", rvNode.Addr.String(), "--turn-allow-private")
	if !eventually(10*time.Second, func() bool {
		return rvNode.Do(func() error {
			c, err := net.DialTimeout("tcp", grpcAddr, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		}) == nil
	}) {
		t.Fatalf("kith-rendezvous does not accept connections:\n%s", rv.Output())
	}

	peers := startLabPeers(t, lab, []string{"mon1", "mon2"}, grpcAddr)
	a, b := peers["mon1"], peers["mon2"]
	befriend(t, a, b, false)
	a.post(t, "from mon1")
	b.post(t, "from mon2")
	syncBoth(t, "mon1(symmetric)<->mon2(symmetric)", a, b, "relay", 40*time.Second)

	for _, p := range []*labPeer{a, b} {
		if err := p.proc.Stop(); err != nil {
			t.Logf("stopping %s: %v", p.name, err)
		}
	}
	_ = rv.Stop()
	_ = monitor.Stop()

	keys := map[identity.Fingerprint]*identity.Key{}
	for _, p := range []*labPeer{a, b} {
		st, err := store.Open(store.Config{Home: p.home, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		k, err := st.Key()
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		keys[k.Public().Fingerprint()] = k
	}
	capture := parseMonitor(t, monitor.Output())
	logs := []byte(rv.Output())
	kinds := map[rendezvousv1.OfferKind]int{}
	var secrets, addrs [][]byte
	for _, frame := range capture.frames {
		var resp rendezvousv1.ListenResponse
		if err := proto.Unmarshal(frame[1:], &resp); err != nil || resp.GetOffer() == nil {
			t.Fatalf("an offer frame in Redis does not parse as a sealed offer: %v", err)
		}
		target := keys[identity.Fingerprint(resp.GetOffer().GetTargetFingerprint())]
		if target == nil {
			t.Fatalf("an offer for an unknown target %q", resp.GetOffer().GetTargetFingerprint())
		}
		from, offer, err := discovery.OpenOffer(target, resp.GetOffer())
		if err != nil {
			t.Fatalf("the target cannot open an offer sent to it: %v", err)
		}
		kinds[offer.GetKind()]++
		for _, leak := range [][]byte{from[:], []byte(from.ID()), []byte(from.Fingerprint())} {
			if bytes.Contains(frame, leak) {
				t.Errorf("an offer frame in Redis shows its caller %s (%q)", from.Short(), leak)
			}
		}
		// A FRIEND_REQUEST carries no punch secret: nothing to leak (and "" is in every text).
		if s := offer.GetPunchSecret(); len(s) > 0 {
			secrets = append(secrets, s, []byte(hex.EncodeToString(s)), []byte(base64.StdEncoding.EncodeToString(s)),
				[]byte(base64.RawStdEncoding.EncodeToString(s)), []byte(fmt.Sprintf("%v", s)))
		}
		for _, c := range offer.GetCandidates() {
			addrs = append(addrs, []byte(c.GetAddress()))
		}
	}
	if kinds[rendezvousv1.OfferKind_OFFER_KIND_CONNECT] == 0 || kinds[rendezvousv1.OfferKind_OFFER_KIND_RELAY] == 0 ||
		kinds[rendezvousv1.OfferKind_OFFER_KIND_ANSWER] == 0 || len(addrs) == 0 {
		t.Fatalf("the capture holds offers %v with %d candidates; want CONNECT, ANSWER and RELAY offers with candidates (is MONITOR capturing?)", kinds, len(addrs))
	}
	for name, text := range map[string][]byte{"Redis MONITOR": capture.all, "the rendezvous log": logs} {
		for _, s := range secrets {
			if bytes.Contains(text, s) {
				t.Errorf("%s shows a punch secret (%q)", name, s)
			}
		}
		for _, ad := range addrs {
			if bytes.Contains(text, ad) {
				t.Errorf("%s shows the candidate address %s in plain text", name, ad)
			}
		}
		for _, k := range keys {
			if bytes.Contains(text, []byte(k.ID())) {
				t.Errorf("%s shows the ID %s", name, k.ID())
			}
		}
	}
	t.Logf("checked %d offer frames (%v), %d candidates and %d punch secrets against %d bytes of MONITOR and %d of logs",
		len(capture.frames), kinds, len(addrs), len(secrets)/5, len(capture.all), len(logs))
}

// monitorCapture is a Redis MONITOR capture: every argument of every command,
// unescaped, and the offer frames published to Listen channels.
type monitorCapture struct {
	all    []byte
	frames [][]byte
}

// parseMonitor reads redis-cli monitor output: `TS [DB ADDR] "CMD" "ARG"...`, each
// argument quoted as Redis' sdscatrepr does.
func parseMonitor(t *testing.T, out string) monitorCapture {
	t.Helper()
	var c monitorCapture
	for _, line := range strings.Split(out, "\n") {
		i := strings.Index(line, "] \"")
		if i < 0 {
			continue
		}
		args, err := unquoteArgs(line[i+2:])
		if err != nil {
			t.Fatalf("MONITOR line %q: %v", line, err)
		}
		for _, a := range args {
			c.all = append(append(c.all, a...), '\n')
		}
		if len(args) == 3 && (strings.EqualFold(string(args[0]), "SPUBLISH") || strings.EqualFold(string(args[0]), "PUBLISH")) &&
			len(args[2]) > 0 && args[2][0] == 'o' {
			c.frames = append(c.frames, args[2])
		}
	}
	return c
}

// unquoteArgs splits `"a" "b\x00"` into its unescaped arguments.
func unquoteArgs(s string) ([][]byte, error) {
	var args [][]byte
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] != '"' {
			return nil, fmt.Errorf("want a quoted argument at %q", s)
		}
		var arg []byte
		i := 1
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] != '\\' {
				arg = append(arg, s[i])
				continue
			}
			if i+1 >= len(s) {
				return nil, fmt.Errorf("dangling backslash")
			}
			i++
			switch s[i] {
			case 'n':
				arg = append(arg, '\n')
			case 'r':
				arg = append(arg, '\r')
			case 't':
				arg = append(arg, '\t')
			case 'a':
				arg = append(arg, '\a')
			case 'b':
				arg = append(arg, '\b')
			case 'x':
				if i+2 >= len(s) {
					return nil, fmt.Errorf("short \\x escape")
				}
				v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
				if err != nil {
					return nil, err
				}
				arg = append(arg, byte(v))
				i += 2
			default:
				arg = append(arg, s[i])
			}
		}
		if i >= len(s) {
			return nil, fmt.Errorf("unterminated argument")
		}
		args = append(args, arg)
		s = s[i+1:]
	}
	return args, nil
}
