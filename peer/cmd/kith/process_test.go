package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	cmd    *exec.Cmd
	addr   string
	stderr *bytes.Buffer
	done   chan struct{}
}

// startDaemon runs `kith daemon` on home and waits until it listens.
func startDaemon(t *testing.T, home, listen string, extra ...string) *proc {
	t.Helper()
	cmd := exec.Command(kithBin, append([]string{"--home", home, "daemon", "--listen", listen}, extra...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stderr: new(bytes.Buffer), done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		io.Copy(io.Discard, out)
	}()
	t.Cleanup(func() { p.stop(t) })
	select {
	case l, ok := <-line:
		f := strings.Fields(l)
		if !ok || len(f) < 5 {
			t.Fatalf("daemon on %s did not start: %q\n%s", home, l, p.stderr)
		}
		p.addr = f[len(f)-1]
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon on %s did not start in 20s\n%s", home, p.stderr)
	}
	return p
}

// stop ends the daemon with SIGTERM.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
}

// syncOnce runs a daemon on home that pulls every friend once and exits.
func syncOnce(t *testing.T, home string, extra ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kithBin, append([]string{"--home", home, "daemon", "--listen", "127.0.0.1:0", "--sync-once"}, extra...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kith daemon --sync-once on %s: %v\n%s", home, err, stderr.String())
	}
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
