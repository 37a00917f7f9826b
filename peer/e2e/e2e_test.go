package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/kithnet/kith/shared/tlstest"
)

// binDir holds kith and kith-rendezvous built once for all scripts.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kith-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Backups: fast scrypt, through the link-time hook only test builds set.
	build := exec.Command("go", "build", "-o", dir+"/", "-ldflags", "-X github.com/kithnet/kith/peer/backup.linkedWorkFactor=10",
		"github.com/kithnet/kith/peer/cmd/kith", "github.com/kithnet/kith/rendezvous/cmd/kith-rendezvous")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the binaries failed:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
			env.Values["procs"] = map[string]*daemonProc{}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"daemon":       cmdDaemon,
			"stopd":        cmdStop,
			"kill9":        cmdKill9,
			"capture":      cmdCapture,
			"freeaddr":     cmdFreeAddr,
			"waitfile":     cmdWaitFile,
			"exits":        cmdExits,
			"eventually":   cmdEventually,
			"httpget":      cmdHTTPGet,
			"flipbyte":     cmdFlipByte,
			"tamperpeer":   cmdTamperPeer,
			"tlscert":      cmdTLSCert,
			"typo":         cmdTypo,
			"grouped":      cmdGrouped,
			"homebytes":    cmdHomeBytes,
			"tamperparcel": cmdTamperParcel,
		},
	})
}

func procs(ts *testscript.TestScript) map[string]*daemonProc {
	return ts.Value("procs").(map[string]*daemonProc)
}

// daemon NAME HOME [flag...]: start `kith --home HOME daemon flag...` in the background,
// logging to $WORK/NAME.log, and wait until its socket accepts connections.
// With !, expect the daemon to refuse to start (exit non-zero within 10 s).
func cmdDaemon(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: daemon NAME HOME [flag...]")
	}
	name, home := args[0], ts.MkAbs(args[1])
	logPath := ts.MkAbs(name + ".log")
	logf, err := os.Create(logPath)
	ts.Check(err)
	cmd := exec.Command(filepath.Join(binDir, "kith"), append([]string{"--home", home, "daemon"}, args[2:]...)...)
	cmd.Env = scriptEnv(ts)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	ts.Check(cmd.Start())
	// This goroutine is the daemon's only waiter; everyone else watches done, after
	// which cmd.ProcessState holds how it ended.
	p := &daemonProc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(p.done) }()
	ts.Defer(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-p.done
		}
	})
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-p.done:
			out, _ := os.ReadFile(logPath)
			if neg {
				ts.Logf("daemon %s refused to start as expected:\n%s", name, out)
				return
			}
			ts.Fatalf("daemon %s exited: %v\n%s", name, cmd.ProcessState, out)
		default:
		}
		if !neg {
			if c, err := net.Dial("unix", filepath.Join(home, "kith.sock")); err == nil {
				c.Close()
				procs(ts)[name] = p
				return
			}
		}
	}
	if neg {
		ts.Fatalf("daemon %s started, but it should have refused", name)
	}
	out, _ := os.ReadFile(logPath)
	ts.Fatalf("daemon %s: socket not ready in 20s\n%s", name, out)
}

// daemonProc is a daemon started by the daemon command.
type daemonProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been waited for
}

// exited waits up to d for the process to end.
func (p *daemonProc) exited(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

func scriptEnv(ts *testscript.TestScript) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "KITH_PASSPHRASE", "TMPDIR"} {
		env = append(env, k+"="+ts.Getenv(k))
	}
	return env
}

// stopd NAME: SIGTERM the daemon and expect a clean exit (status 0) within 10 s.
func cmdStop(ts *testscript.TestScript, neg bool, args []string) {
	p := procOf(ts, args)
	p.cmd.Process.Signal(syscall.SIGTERM)
	if !p.exited(10 * time.Second) {
		p.cmd.Process.Kill()
		ts.Fatalf("daemon %s did not exit within 10s of SIGTERM", args[0])
	}
	delete(procs(ts), args[0])
	if code := p.cmd.ProcessState.ExitCode(); (code != 0) != neg {
		ts.Fatalf("daemon %s exited with %d (%v)", args[0], code, p.cmd.ProcessState)
	}
}

// kill9 NAME: SIGKILL the daemon, as a crash or power cut would.
func cmdKill9(ts *testscript.TestScript, neg bool, args []string) {
	p := procOf(ts, args)
	p.cmd.Process.Kill()
	p.exited(10 * time.Second)
	delete(procs(ts), args[0])
}

func procOf(ts *testscript.TestScript, args []string) *daemonProc {
	if len(args) != 1 {
		ts.Fatalf("usage: stopd|kill9 NAME")
	}
	p := procs(ts)[args[0]]
	if p == nil {
		ts.Fatalf("no daemon called %s is running", args[0])
	}
	return p
}

// capture VAR PROG [arg...]: run PROG (from the binaries under test) and set $VAR to its
// trimmed stdout; fails when PROG fails.
func cmdCapture(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: capture VAR PROG [arg...]")
	}
	cmd := exec.Command(filepath.Join(binDir, args[1]), args[2:]...)
	cmd.Env = scriptEnv(ts)
	cmd.Dir = ts.Getenv("WORK")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		ts.Fatalf("capture %s: %v\n%s", strings.Join(args[1:], " "), err, errb.String())
	}
	ts.Setenv(args[0], strings.TrimSpace(out.String()))
}

// freeaddr VAR: set $VAR to an address on 127.0.0.1 whose port is free for both UDP and
// TCP (a daemon's --listen is UDP; a rendezvous's --listen and --public-http are TCP).
func cmdFreeAddr(ts *testscript.TestScript, neg bool, args []string) {
	for range 100 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		ts.Check(err)
		addr := u.LocalAddr().String()
		l, err := net.Listen("tcp", addr)
		u.Close()
		if err != nil {
			continue
		}
		l.Close()
		ts.Setenv(args[0], addr)
		return
	}
	ts.Fatalf("freeaddr: no port free for both UDP and TCP")
}

// waitfile FILE TEXT [SECONDS]: wait until FILE contains TEXT (a daemon's log, say).
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: waitfile FILE TEXT [SECONDS]")
	}
	d := 10 * time.Second
	if len(args) == 3 {
		secs, err := time.ParseDuration(args[2] + "s")
		ts.Check(err)
		d = secs
	}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(ts.MkAbs(args[0]))
		if bytes.Contains(b, []byte(args[1])) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("%s does not contain %q after %v", args[0], args[1], d)
}

// exits CODE PROG [arg...]: run PROG and require exit status CODE; its output feeds the
// stdout and stderr assertions that follow, as exec's does.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROG [arg...]")
	}
	cmd := exec.Command(filepath.Join(binDir, args[1]), args[2:]...)
	cmd.Env = scriptEnv(ts)
	cmd.Dir = ts.Getenv("WORK")
	cmd.Stdout, cmd.Stderr = ts.Stdout(), ts.Stderr()
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("exits: %v", err)
	}
	if fmt.Sprint(code) != args[0] {
		ts.Fatalf("%s exited with %d, want %s", strings.Join(args[1:], " "), code, args[0])
	}
}

// eventually SECONDS REGEXP PROG [arg...]: run PROG until its stdout matches REGEXP, for
// at most SECONDS; for state that converges (a connection forming, a live pull).
func cmdEventually(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 3 {
		ts.Fatalf("usage: eventually SECONDS REGEXP PROG [arg...]")
	}
	d, err := time.ParseDuration(args[0] + "s")
	ts.Check(err)
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	deadline := time.Now().Add(d)
	var last []byte
	for {
		cmd := exec.Command(filepath.Join(binDir, args[2]), args[3:]...)
		cmd.Env = scriptEnv(ts)
		cmd.Dir = ts.Getenv("WORK")
		last, _ = cmd.Output()
		if re.Match(last) {
			fmt.Fprintf(ts.Stdout(), "%s", last)
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s: no match for %q within %v; last output:\n%s", strings.Join(args[2:], " "), args[1], d, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// httpget URL [STATUS]: GET URL and require STATUS (default 200); the body feeds the
// stdout assertions that follow.
func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	host := ""
	if len(args) > 2 && args[0] == "-host" {
		host, args = args[1], args[2:]
	}
	if len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: httpget [-host HOST] URL [STATUS]")
	}
	want := "200"
	if len(args) == 2 {
		want = args[1]
	}
	var resp *http.Response
	var err error
	for range 50 { // the daemon may still be binding
		req, rerr := http.NewRequest(http.MethodGet, args[0], nil)
		ts.Check(rerr)
		if host != "" {
			req.Host = host // what a client may forge
		}
		if resp, err = http.DefaultClient.Do(req); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts.Check(err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	ts.Check(err)
	if fmt.Sprint(resp.StatusCode) != want {
		ts.Fatalf("GET %s: %s, want %s\n%s", args[0], resp.Status, want, body)
	}
	ts.Stdout().Write(body)
}

// flipbyte FILE OFFSET: invert one byte of FILE, as a bad disk or a bad copy would.
func cmdFlipByte(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: flipbyte FILE OFFSET")
	}
	path := ts.MkAbs(args[0])
	b, err := os.ReadFile(path)
	ts.Check(err)
	off, err := strconv.Atoi(args[1])
	ts.Check(err)
	if off >= len(b) {
		ts.Fatalf("flipbyte: %s has %d bytes", args[0], len(b))
	}
	b[off] ^= 0xff
	ts.Check(os.WriteFile(path, b, 0o600))
}

// tlscert DIR: write a self-signed certificate for localhost and 127.0.0.1 as
// DIR/cert.pem and DIR/key.pem (shared/tlstest).
func cmdTLSCert(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: tlscert DIR")
	}
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(dir, 0o700))
	_, err := tlstest.Write(dir)
	ts.Check(err)
}

// typo VAR ID N: set $VAR to ID with its Nth character (from 1) replaced by the next
// letter of the base32 alphabet, as a person mistyping one character would.
func cmdTypo(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: typo VAR ID N")
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	id := []byte(args[1])
	n, err := strconv.Atoi(args[2])
	ts.Check(err)
	if n < 1 || n > len(id) {
		ts.Fatalf("typo: %d is outside the ID", n)
	}
	id[n-1] = alphabet[(strings.IndexByte(alphabet, id[n-1])+1)%len(alphabet)]
	ts.Setenv(args[0], string(id))
}

// grouped VAR ID: set $VAR to ID in upper case, in dash-separated groups of seven, as
// a person may copy it from a printout.
func cmdGrouped(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: grouped VAR ID")
	}
	var parts []string
	for s := strings.ToUpper(args[1]); s != ""; {
		n := min(7, len(s))
		parts, s = append(parts, s[:n]), s[n:]
	}
	ts.Setenv(args[0], strings.Join(parts, "-"))
}
