package ui_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/ui"
)

// kithDir holds bin/kith, built on first use (kithBin) so that the tests which start no
// daemon (the CSRF, session and Host checks) do not wait for a build.
var (
	kithDir   string
	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kith-ui-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kithDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// kithBin returns bin/kith, building it once for every test, so the daemons are real
// processes.
func kithBin(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		build := exec.Command("go", "build", "-o", kithDir+"/", "-ldflags", "-X github.com/kithnet/kith/peer/backup.linkedWorkFactor=10", "github.com/kithnet/kith/peer/cmd/kith")
		out, err := build.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building bin/kith: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(kithDir, "kith")
}

// node is one kith daemon running as a process, with its web app.
type node struct {
	name, home, id, listen, url string
}

// kith runs the kith command on n's home and returns its standard output.
func (n *node) kith(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(kithBin(t), append([]string{"--home", n.home}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: kith %s: %v\n%s", n.name, strings.Join(args, " "), err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// loginURL asks `kith ui` for a fresh one-time login link.
func (n *node) loginURL(t testing.TB) string {
	t.Helper()
	link := n.kith(t, "ui")
	if !strings.HasPrefix(link, n.url+"login?token=") {
		t.Fatalf("%s: kith ui printed %q, want %slogin?token=...", n.name, link, n.url)
	}
	return link
}

// startNode makes a home and starts its daemon.
func startNode(t testing.TB, name string) *node {
	t.Helper()
	n := newHome(t, name)
	n.start(t)
	return n
}

// newHome makes a home with a new identity.
func newHome(t testing.TB, name string) *node {
	t.Helper()
	n := &node{name: name, home: t.TempDir(), listen: freeUDP(t)}
	n.id = n.kith(t, "init", "--name", name)
	return n
}

// start starts n's daemon in direct mode with the web app on a free loopback port, and
// stops it when the test ends.
func (n *node) start(t testing.TB) { t.Helper(); n.startWith(t, "--rendezvous", "none") }

// startWith is start with other daemon flags (a rendezvous) in place of direct mode.
func (n *node) startWith(t testing.TB, flags ...string) {
	t.Helper()
	name := n.name
	logf, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--home", n.home, "daemon", "--listen", n.listen, "--ui", "127.0.0.1:0"}, flags...)
	cmd := exec.Command(kithBin(t), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
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
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s daemon log:\n%s", name, b)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if u, err := ui.URL(n.home); err == nil {
			n.url = u
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the web app did not start in 15 s", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeUDP(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

// writePhoto writes a small PNG with a colour gradient and returns its path.
func writePhoto(t testing.TB, dir, name string, w, h int) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 160, 255})
		}
	}
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitFor polls cond until it holds or the context ends.
func waitFor(ctx context.Context, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freeTCP returns a loopback address nothing listens on (taken and released at once).
func freeTCP(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
