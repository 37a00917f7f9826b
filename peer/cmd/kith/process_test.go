package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/shared/identity"
)

// kithBin is the kith binary built once for the tests that run it as real processes.
var kithBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kith-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kithBin = filepath.Join(dir, "kith")
	if out, err := exec.Command("go", "build", "-o", kithBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build kith: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// kith runs the binary on home and returns its trimmed stdout; it fails t on error.
func kith(t *testing.T, home string, args ...string) string {
	t.Helper()
	cmd := exec.Command(kithBin, append([]string{"--home", home}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kith %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// newHome makes a home with a new identity and returns it and its ID.
func newHome(t *testing.T, name string) (string, string) {
	t.Helper()
	home := filepath.Join(t.TempDir(), name)
	return home, kith(t, home, "init", "--name", name)
}

// proc is a running kith daemon.
type proc struct {
	cmd  *exec.Cmd
	addr string
	log  *lockedBuffer
}

// lockedBuffer collects a daemon's log while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// readyLine matches the daemon's "ready" log line and its UDP address.
var readyLine = regexp.MustCompile(`msg="kith daemon ready".* listen=(\S+)`)

// startDaemon runs `kith daemon` on home and waits until its local socket answers; the
// commands of the CLI then go through it.
func startDaemon(t *testing.T, home, listen string, extra ...string) *proc {
	t.Helper()
	cmd := exec.Command(kithBin, append([]string{"--home", home, "daemon", "--listen", listen}, extra...)...)
	p := &proc{cmd: cmd, log: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = io.Discard, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.stop(t) })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := readyLine.FindStringSubmatch(p.log.String()); m != nil && socketUp(home) {
			p.addr = m[1]
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("daemon on %s did not start in 20s\n%s", home, p.log)
	return nil
}

// socketUp reports whether home's daemon answers on its local socket.
func socketUp(home string) bool {
	c, err := net.Dial("unix", filepath.Join(home, "kith.sock"))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// waitSocket waits until home's daemon answers on its local socket.
func waitSocket(t testing.TB, home string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if socketUp(home) {
			return
		}
	}
	t.Fatalf("daemon on %s: local socket not up in 20s", home)
}

// stop ends the daemon with SIGTERM and waits for it.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
}

// withDaemon runs fn with a daemon running on home, then stops it (so the test may open
// the store itself afterwards).
func withDaemon(t *testing.T, home string, fn func(), extra ...string) {
	t.Helper()
	p := startDaemon(t, home, "127.0.0.1:0", extra...)
	defer p.stop(t)
	fn()
}

// syncOnce starts a daemon on home, pulls every friend once with `kith sync` (which must
// succeed), and stops the daemon.
func syncOnce(t *testing.T, home string, extra ...string) {
	t.Helper()
	withDaemon(t, home, func() { kith(t, home, "sync") }, extra...)
}

// openStore opens a home whose daemon has stopped.
func openStore(t *testing.T, home string) *store.Store {
	t.Helper()
	st, err := store.Open(store.Config{Home: home, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func mustParseID(t *testing.T, s string) identity.PublicKey {
	t.Helper()
	k, err := identity.ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// freePort returns a loopback UDP address nobody listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	pc, err := netListenPacket()
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}
