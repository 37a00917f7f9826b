package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/natlab"
)

// kindOf names the NAT in front of a host of natlab.Standard.
func kindOf(host string) string {
	switch host[:len(host)-1] {
	case "pr":
		return "port-restricted"
	case "fc":
		return "full-cone"
	case "sym":
		return "symmetric"
	case "dbl":
		return "double-NAT"
	case "lan":
		return "same-NAT"
	}
	return "?"
}

// startLabPeers starts a daemon on each host at once.
func startLabPeers(t *testing.T, lab *natlab.Lab, hosts []string, rendezvous string, extra ...string) map[string]*labPeer {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	peers := map[string]*labPeer{}
	for _, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := startLabPeer(t, lab, h, rendezvous, extra...) // a t.Fatal here leaves peers[h] nil
			mu.Lock()
			peers[h] = p
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, h := range hosts {
		if peers[h] == nil {
			t.Fatalf("the daemon on %s did not start", h)
		}
	}
	return peers
}

// TestNATMatrixBinaries runs the real kith-rendezvous and one real kith daemon on each
// host of the standard lab. Every pair of NAT kinds becomes friends by ID alone, each
// side posts, and each must hold the other's post; the path both report is direct
// where a direct path is possible (both mappings endpoint-independent, or one side
// full cone) and relay for the rest.
func TestNATMatrixBinaries(t *testing.T) {
	t.Parallel()
	lab := natlab.New(t, natlab.Standard())
	rv, _ := startRendezvous(t, lab, "rv", 7000, 3478)
	pairs := []struct {
		a, b string
		path string
	}{
		{"pr1", "pr2", "direct"}, {"pr1", "fc1", "direct"}, {"pr1", "sym1", "relay"}, {"pr1", "dbl1", "direct"},
		{"fc1", "fc2", "direct"}, {"fc1", "sym1", "direct"}, {"fc1", "dbl1", "direct"},
		{"sym1", "sym2", "relay"}, {"sym1", "dbl1", "relay"}, {"dbl1", "dbl2", "direct"}, {"lan1", "lan2", "direct"},
	}
	peers := startLabPeers(t, lab, []string{"pr1", "pr2", "fc1", "fc2", "sym1", "sym2", "dbl1", "dbl2", "lan1", "lan2"}, rv)
	for _, pr := range pairs {
		befriend(t, peers[pr.a], peers[pr.b], false)
	}
	for name, p := range peers {
		p.post(t, "hello from "+name)
	}
	var wg sync.WaitGroup
	for _, pr := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, b := peers[pr.a], peers[pr.b]
			pair := fmt.Sprintf("%s(%s)<->%s(%s)", pr.a, kindOf(pr.a), pr.b, kindOf(pr.b))
			for _, s := range [][2]*labPeer{{a, b}, {b, a}} {
				if _, err := kithCLI("--home", s[0].home, "sync", s[1].id); err != nil {
					t.Errorf("%s: kith sync on %s: %v", pair, s[0].name, err)
				}
				if !eventually(20*time.Second, func() bool { return s[0].holds(s[1], "hello from "+s[1].name) }) {
					t.Errorf("%s: %s's timeline lacks %s's post after 20 s", pair, s[0].name, s[1].name)
				}
				var path, remote string
				if !eventually(10*time.Second, func() bool { path, remote = s[0].path(s[1]); return path == pr.path }) {
					t.Errorf("%s: %s reports path %q (remote %q) to %s, want %q", pair, s[0].name, path, remote, s[1].name, pr.path)
				} else {
					t.Logf("%s: %s reaches %s %s at %s", pair, s[0].name, s[1].name, path, remote)
				}
			}
		}()
	}
	wg.Wait()
}
