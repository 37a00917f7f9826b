package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/natlab"
)

// stageLine finds the daemon's debug line for a stage of a find, and its elapsed_ms.
var stageLine = regexp.MustCompile(`msg="reach: ([a-z ]+)" peer=\S+ elapsed_ms=([0-9.]+)`)

// findStages reads, from a daemon's log, when each stage of its find came (the first
// time it came), in ms since the find started.
func findStages(log string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range stageLine.FindAllStringSubmatch(log, -1) {
		if _, ok := out[m[1]]; ok {
			continue
		}
		if ms, err := strconv.ParseFloat(m[2], 64); err == nil {
			out[m[1]] = ms
		}
	}
	return out
}

// TestRelayAnswer: in the lab with 20 ms one way, between two symmetric NATs, each
// cold sync connects through the callee's relay (issue 20, stop 21): the callee
// answers the CONNECT with its relay address too, and the caller's first QUIC Initial
// goes there, with no RELAY offer of its own and no ping through a relay first. The
// QUIC handshake through the callee's relay (two home-to-relay round trips, 80 ms)
// follows the relay answer within one round trip more. Real binaries, the daemon's
// debug lines; the first run finds the callee without an allocation, the others with
// the one it kept for the connection before.
func TestRelayAnswer(t *testing.T) {
	const runs, rtt = 3, 40 * time.Millisecond
	lab := natlab.New(t, natlab.Pairs(20*time.Millisecond))
	rv, _ := startRendezvous(t, lab, "rv", 7000, 3478)
	flags := []string{"--follow=false", "--log-level", "debug"}
	peers := startLabPeers(t, lab, []string{"sym1", "sym2"}, rv, flags...)
	srv, cli := peers["sym1"], peers["sym2"]
	befriend(t, srv, cli, false)
	for i := range runs {
		if i > 0 { // cold: a fresh daemon, on a fresh port
			_ = cli.proc.Stop()
			cli.start(t, rv, append(flags, "--listen", ":0")...)
		}
		mark, srvMark := len(cli.proc.Output()), len(srv.proc.Output())
		timedSync(t, cli, srv, "relay")
		out := cli.proc.Output()[mark:]
		st := findStages(out)
		t.Logf("run %d: stages (ms since the find started): %v", i, st)
		if !strings.Contains(out, "how=relay-answer") {
			t.Fatalf("run %d: the connection did not go through the callee's relay:\n%s", i, out)
		}
		if !strings.Contains(srv.proc.Output()[srvMark:], "sent a friend our relay") {
			t.Errorf("run %d: the callee logged no relay answer", i)
		}
		for _, s := range []string{"offer sent", "answer received", "relay answer received", "handshake done"} {
			if _, ok := st[s]; !ok {
				t.Fatalf("run %d: no %q line in the daemon's debug log", i, s)
			}
		}
		// The QUIC handshake through the callee's relay is two round trips (80 ms;
		// seen at 85 to 90). The old way needed, after our own allocation, a RELAY
		// offer and a ping back through our relay before that handshake.
		if took := st["handshake done"] - st["relay answer received"]; took > float64(3*rtt/time.Millisecond) {
			t.Errorf("run %d: handshake %.1f ms after the relay answer, more than three round trips of %v", i, took, rtt)
		}
		// From the second run on, the callee still holds the allocation it answered
		// the previous run with: no allocation in the way, within issue 20's 6 RTT.
		if i > 0 && st["handshake done"] > float64(6*rtt/time.Millisecond) {
			t.Errorf("run %d: handshake done %.1f ms after the find started, more than 6 round trips of %v", i, st["handshake done"], rtt)
		}
	}
}
