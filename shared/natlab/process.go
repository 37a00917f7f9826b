package natlab

import (
	"bytes"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is a long-running command inside a node's namespace: a rendezvous, a
// kith daemon, a TURN server.
type Process struct {
	// Cmd is the running command (ip netns exec execs the program, so Cmd.Process
	// is the program itself).
	Cmd *exec.Cmd

	out  *syncBuffer
	done chan struct{}
	err  error
}

// Start runs name inside the node's namespace until Stop, Kill, or the end of t,
// which stops it and logs its output if t failed. It fails t if name cannot start.
func (n *Node) Start(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	p := &Process{Cmd: exec.Command("ip", append([]string{"netns", "exec", n.NS, name}, args...)...),
		out: &syncBuffer{}, done: make(chan struct{})}
	p.Cmd.Stdout, p.Cmd.Stderr = p.out, p.out
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("natlab: start %s in %s: %v", name, n.Name, err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.Stop()
		if t.Failed() {
			t.Logf("natlab: output of %s in %s:\n%s", name, n.Name, p.Output())
		}
	})
	return p
}

// Stop asks the process to end (SIGTERM), kills it after 3 s, and waits for it.
func (p *Process) Stop() error {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
	return p.err
}

// Kill ends the process at once (SIGKILL), as a crash would, and waits for it.
func (p *Process) Kill() error {
	_ = p.Cmd.Process.Kill()
	<-p.done
	return p.err
}

// Exited is closed when the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Output is what the process wrote to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// syncBuffer is a bytes.Buffer safe for a process writing while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
