package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// skippedBlocks are the README's shell blocks this test does not run, each with why.
var skippedBlocks = map[string]string{
	"go install github.com/kithnet/kith/peer/cmd/kith@latest": "needs the network; the test puts the binaries it built on PATH instead",
}

// readmeBlocks returns the ```sh blocks of the README's "Using kith" section, in order.
func readmeBlocks(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "\n## Using kith\n")
	if start < 0 {
		t.Fatal(`README.md has no "## Using kith" section`)
	}
	section := text[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	if first := strings.Index(text, "\n## "); first != start {
		t.Fatalf(`"Using kith" is not the README's first section`)
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1) {
		blocks = append(blocks, m[1])
	}
	if len(blocks) < 5 {
		t.Fatalf("found %d shell blocks in Using kith, want the whole walk-through", len(blocks))
	}
	return blocks
}

// TestReadmeWalkthrough runs the README's "Using kith" shell blocks exactly as written, in
// one bash, with a temporary HOME and the binaries under test on PATH. The test plays
// the friend: Bob, a second node on the same loopback rendezvous, who adds Alice back.
// Between blocks it waits for what a person would wait for (a daemon's socket).
func TestReadmeWalkthrough(t *testing.T) {
	blocks := readmeBlocks(t)
	home := t.TempDir()
	rdv := freeTCPUDP(t)
	stun := freeTCPUDP(t)
	start(t, "kith-rendezvous", "--listen", rdv, "--stun", stun, "--turn-secret", "readme", "--turn-allow-private", "--log-level", "warn")
	waitTCP(t, rdv)

	bobHome := filepath.Join(home, "bob")
	bobAddr := freeTCPUDP(t)
	run(t, "kith", "--home", bobHome, "init", "--name", "Bob")
	start(t, "kith", "--home", bobHome, "daemon", "--rendezvous", rdv, "--listen", bobAddr, "--ui", "off")
	waitSocket(t, bobHome)
	bobID := strings.TrimSpace(run(t, "kith", "--home", bobHome, "id"))

	sh := newShell(t, home, map[string]string{"RENDEZVOUS": rdv, "FRIEND_ID": bobID, "FRIEND_ADDR": bobAddr})
	var all strings.Builder
	for _, blk := range blocks {
		if why, ok := skippedBlocks[strings.TrimSpace(blk)]; ok {
			t.Logf("not run: %q (%s)", strings.TrimSpace(blk), why)
			continue
		}
		out := sh.run(t, blk)
		all.WriteString(out)
		if strings.Contains(blk, "daemon") {
			h := filepath.Join(home, ".kith")
			if m := regexp.MustCompile(`--home (\S+)`).FindStringSubmatch(blk); m != nil {
				h = strings.Replace(m[1], "~", home, 1)
			}
			waitSocket(t, h)
			if strings.Contains(blk, "$RENDEZVOUS") {
				waitRegistered(t, h) // as a person waits a moment before 'kith status'
			}
		}
		if strings.Contains(blk, "kith init --name Alice") && !strings.Contains(blk, "--home") {
			// Bob adds Alice back, once her ID exists: what her friend does on his side.
			aliceID := regexp.MustCompile(`(?m)^[a-z2-7]{56}$`).FindString(out)
			if aliceID == "" {
				t.Fatalf("kith init printed no ID:\n%s", out)
			}
			run(t, "kith", "--home", bobHome, "friend", "add", aliceID, "--name", "Alice")
		}
	}
	got := all.String()
	for _, want := range []string{"registered, seen as", "added friend Bob", "Bob (" + bobID + "): ", "hello #kith", "to: Bob", "/login?token="} {
		if !strings.Contains(got, want) {
			t.Errorf("the walk-through's output lacks %q:\n%s", want, got)
		}
	}
	if t.Failed() {
		return
	}
	// Bob gets the post live, or at his next sync, as a person would run it.
	var tl string
	if !eventually(20*time.Second, func() bool {
		run(t, "kith", "--home", bobHome, "sync")
		tl = run(t, "kith", "--home", bobHome, "timeline")
		return strings.Contains(tl, "just for you")
	}) {
		t.Errorf("Bob's timeline lacks Alice's post to him:\n%s", tl)
	}
}

// shell is one bash that runs blocks in turn, so '&' jobs and variables carry over.
type shell struct {
	in  io.Writer
	out *bufio.Reader
}

func newShell(t *testing.T, home string, vars map[string]string) *shell {
	t.Helper()
	cmd := exec.Command("bash", "--noprofile", "--norc")
	cmd.Dir = home
	cmd.Env = []string{"HOME=" + home, "PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"TMPDIR=" + os.TempDir()}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) // the shell and the daemons it started
		pr.Close()                                      // nobody reads their last words
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		pw.Close()
	})
	return &shell{in: in, out: bufio.NewReader(pr)}
}

const doneMark = "::block-done::"

// run feeds one block, line by line as a person pastes it, and returns its output; a
// command that fails fails the test.
func (s *shell) run(t *testing.T, block string) string {
	t.Helper()
	t.Logf("$ %s", strings.ReplaceAll(strings.TrimSpace(block), "\n", "\n$ "))
	var script strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		fmt.Fprintf(&script, "%s\nrc=$?; if [ $rc -ne 0 ]; then echo \"%s $rc\"; fi\n", line, doneMark)
	}
	fmt.Fprintf(&script, "echo \"%s 0\"\n", doneMark)
	if _, err := io.WriteString(s.in, script.String()); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	deadline := time.AfterFunc(2*time.Minute, func() { t.Errorf("block did not finish in 2 minutes:\n%s", block) })
	defer deadline.Stop()
	for {
		line, err := s.out.ReadString('\n')
		if err != nil {
			t.Fatalf("shell ended: %v\n%s", err, out.String())
		}
		if rest, ok := strings.CutPrefix(line, doneMark+" "); ok {
			if rc := strings.TrimSpace(rest); rc != "0" {
				t.Fatalf("a command of this block exited %s:\n%s\noutput:\n%s", rc, block, out.String())
			}
			t.Logf("%s", out.String())
			return out.String()
		}
		out.WriteString(line)
	}
}

// start runs one of the binaries under test in the background until the test ends.
func start(t *testing.T, prog string, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, prog), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	log, err := os.Create(filepath.Join(t.TempDir(), prog+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		log.Close()
	})
}

// run runs one of the binaries under test and returns its stdout; failure fails the test.
func run(t *testing.T, prog string, args ...string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(binDir, prog), args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s %s: %v\n%s%s", prog, strings.Join(args, " "), err, out, stderr)
	}
	return string(out)
}

func freeTCPUDP(t *testing.T) string {
	t.Helper()
	for range 100 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := u.LocalAddr().String()
		l, err := net.Listen("tcp", addr)
		u.Close()
		if err == nil {
			l.Close()
			return addr
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return ""
}

func waitTCP(t *testing.T, addr string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("nothing listens on %s after 20s", addr)
}

func waitSocket(t *testing.T, home string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("unix", filepath.Join(home, "kith.sock")); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("no daemon socket in %s after 20s", home)
}

func waitRegistered(t *testing.T, home string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		out, _ := exec.Command(filepath.Join(binDir, "kith"), "--home", home, "status").Output()
		if strings.Contains(string(out), "registered, seen as") {
			return
		}
	}
	t.Fatalf("the daemon of %s did not register with the rendezvous in 30s", home)
}
