package e2e

import (
	"regexp"
	"strconv"
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

// TestRelayReadyByTheAnswer: in the lab with 20 ms one way, a relayed pair (two
// symmetric NATs) has its TURN allocation ready by the time the peer's ANSWER arrives:
// the credentials were at hand and only the authenticated Allocate waited for the
// offer's delivery, so the relay attempt that starts on the ANSWER spends no round
// trip on the allocation (the two come together: a quarter round trip is allowed). Cold syncs, real binaries, the daemon's debug lines.
func TestRelayReadyByTheAnswer(t *testing.T) {
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
		mark := len(cli.proc.Output())
		timedSync(t, cli, srv, "relay")
		st := findStages(cli.proc.Output()[mark:])
		t.Logf("run %d: stages (ms since the find started): %v", i, st)
		for _, s := range []string{"offer sent", "offer delivered", "credentials ready", "answer received", "allocation ready", "permissions made", "ping through the relay", "handshake done"} {
			if _, ok := st[s]; !ok {
				t.Fatalf("run %d: no %q line in the daemon's debug log", i, s)
			}
		}
		// Both come about two gRPC round trips after the start (the offer's delivery
		// plus the allocation's one round trip; the offer's and the answer's ways):
		// a tie, in practice, allocation first by a millisecond. Without the gate the
		// allocation would come a round trip later, without the credentials at hand
		// two.
		if late := st["allocation ready"] - st["answer received"]; late > float64(rtt/time.Millisecond)/4 {
			t.Errorf("run %d: allocation ready %.1f ms after the find started, %.1f ms after the answer came: the relay attempt waited for it",
				i, st["allocation ready"], late)
		}
		if st["credentials ready"] > st["offer delivered"] {
			t.Errorf("run %d: credentials ready at %.1f ms, after the offer's delivery at %.1f ms: they were not at hand", i, st["credentials ready"], st["offer delivered"])
		}
	}
}
