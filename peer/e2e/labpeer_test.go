package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/natlab"
)

// labPeer is a real kith daemon in a host of a NAT lab. The CLI runs outside the lab's
// namespaces: it reaches the daemon over the unix socket in the home.
type labPeer struct {
	name, home, id string
	node           *natlab.Node
	proc           *natlab.Process
}

// labStatus is the part of `kith status --json` the lab tests read.
type labStatus struct {
	Rendezvous struct {
		Mode       string `json:"mode"`
		Address    string `json:"address"`
		Registered bool   `json:"registered"`
		Reflexive  string `json:"reflexive"`
	} `json:"rendezvous"`
	Peers []struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Path   string `json:"path"`
		Remote string `json:"remote"`
		Local  string `json:"local"`
	} `json:"peers"`
	Listen string `json:"listen"`
}

// kithCLI runs the kith binary with args and returns its output.
func kithCLI(args ...string) (string, error) {
	out, err := exec.Command(filepath.Join(binDir, "kith"), args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kith %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// startLabPeer makes a home for host, starts its daemon inside the lab with
// --rendezvous rendezvous (a list, or none) and the extra flags, and waits until it
// answers (and, with a rendezvous, is registered with a reflexive address).
func startLabPeer(t testing.TB, lab *natlab.Lab, host, rendezvous string, extra ...string) *labPeer {
	t.Helper()
	home, err := os.MkdirTemp("", "kith-lab-"+host+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	p := &labPeer{name: host, home: home, node: lab.Host(host)}
	if _, err := kithCLI("--home", home, "init", "--name", host); err != nil {
		t.Fatal(err)
	}
	if p.id, err = kithCLI("--home", home, "id"); err != nil {
		t.Fatal(err)
	}
	p.start(t, rendezvous, extra...)
	return p
}

// start runs the daemon on p's home and waits until it answers (and, with a
// rendezvous, is registered with a reflexive address).
func (p *labPeer) start(t testing.TB, rendezvous string, extra ...string) {
	t.Helper()
	args := append([]string{"--home", p.home, "daemon", "--listen", ":4700", "--rendezvous", rendezvous}, extra...)
	p.proc = p.node.Start(t, filepath.Join(binDir, "kith"), args...)
	p.waitStatus(t, 20*time.Second, "started", func(s labStatus) bool {
		return rendezvous == "none" || (s.Rendezvous.Registered && s.Rendezvous.Reflexive != "")
	})
}

// addr is where the daemon listens, for direct mode.
func (p *labPeer) addr() string { return netip.AddrPortFrom(p.node.Addr, 4700).String() }

func (p *labPeer) status() (labStatus, error) {
	var s labStatus
	out, err := kithCLI("--home", p.home, "status", "--json")
	if err == nil {
		err = json.Unmarshal([]byte(out), &s)
	}
	return s, err
}

// waitStatus waits until ok holds for the daemon's status.
func (p *labPeer) waitStatus(t testing.TB, d time.Duration, what string, ok func(labStatus) bool) labStatus {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		s, err := p.status()
		if err == nil && ok(s) {
			return s
		}
		select {
		case <-p.proc.Exited():
			t.Fatalf("%s: daemon exited while waiting for %s:\n%s", p.name, what, p.proc.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %s after %v: status %+v, err %v", p.name, what, d, s, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// befriend makes a and b friends of each other, by ID alone or, withAddr, with each
// other's address (direct mode).
func befriend(t testing.TB, a, b *labPeer, withAddr bool) {
	t.Helper()
	for _, p := range [][2]*labPeer{{a, b}, {b, a}} {
		args := []string{"--home", p[0].home, "friend", "add", p[1].id, "--name", p[1].name}
		if withAddr {
			args = append(args, "--addr", p[1].addr())
		}
		if _, err := kithCLI(args...); err != nil {
			t.Fatal(err)
		}
	}
}

// post publishes text (to friends, unless flags say otherwise).
func (p *labPeer) post(t testing.TB, text string, flags ...string) {
	t.Helper()
	if _, err := kithCLI(append(append([]string{"--home", p.home, "post"}, flags...), "--", text)...); err != nil {
		t.Fatal(err)
	}
}

// holds reports whether p's timeline has a post from author with text.
func (p *labPeer) holds(author *labPeer, text string) bool {
	out, err := kithCLI("--home", p.home, "timeline", "--json", "--from", author.id)
	if err != nil {
		return false
	}
	var posts []struct{ Author, Text string }
	if json.Unmarshal([]byte(out), &posts) != nil {
		return false
	}
	for _, q := range posts {
		if q.Author == author.id && q.Text == text {
			return true
		}
	}
	return false
}

// path is how p's status says it is connected to friend: "direct", "relay" or "".
func (p *labPeer) path(friend *labPeer) (path, remote string) {
	path, remote, _ = p.pathFrom(friend)
	return path, remote
}

// pathFrom is path, with the local socket the connection uses.
func (p *labPeer) pathFrom(friend *labPeer) (path, remote, local string) {
	s, err := p.status()
	if err != nil {
		return "", "", ""
	}
	for _, c := range s.Peers {
		if c.ID == friend.id {
			return c.Path, c.Remote, c.Local
		}
	}
	return "", "", ""
}

// eventually polls ok every 200 ms for up to d.
func eventually(d time.Duration, ok func() bool) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(200 * time.Millisecond) {
		if ok() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// startRendezvous runs kith-rendezvous on host with gRPC on grpcPort and STUN/TURN on
// stunPort, and returns its gRPC address.
func startRendezvous(t testing.TB, lab *natlab.Lab, host string, grpcPort, stunPort int) (string, *natlab.Process) {
	t.Helper()
	n := lab.Host(host)
	grpc := netip.AddrPortFrom(n.Addr, uint16(grpcPort)).String()
	// A second STUN port (stunPort+1000) lets peers tell a symmetric NAT (the birthday
	// method, issue 20).
	p := n.Start(t, filepath.Join(binDir, "kith-rendezvous"), "--listen", grpc,
		"--stun", netip.AddrPortFrom(n.Addr, uint16(stunPort)).String(),
		"--stun-alt", netip.AddrPortFrom(n.Addr, uint16(stunPort+1000)).String(),
		"--turn-secret", "lab-secret", "--turn-relay-ip", n.Addr.String(), "--turn-allow-private", "--log-level", "warn")
	ok := eventually(10*time.Second, func() bool {
		return n.Do(func() error {
			c, err := net.DialTimeout("tcp", grpc, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		}) == nil
	})
	if !ok {
		t.Fatalf("kith-rendezvous on %s does not accept connections at %s after 10 s:\n%s", host, grpc, p.Output())
	}
	return grpc, p
}
