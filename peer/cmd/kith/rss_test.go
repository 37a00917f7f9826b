package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// procStatus reads one kB field of /proc/PID/status. Peak memory is VmHWM read while the
// process lives: rusage's maxrss is no good for a child of a big test process, as Linux
// carries the pre-exec high-water mark (the parent's) across exec.
func procStatus(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// memory is a process's peak RSS and, at the time of reading, how much of its resident
// memory is its own (anonymous: heap, stacks) and how much is file pages it maps (bbolt's
// mmap: reclaimable cache that VmHWM counts too).
type memory struct{ peak, anon, file int64 }

func (m memory) String() string {
	return fmt.Sprintf("%d MiB (at the end: %d MiB anonymous, %d MiB mapped file)", m.peak>>10, m.anon>>10, m.file>>10)
}

func readMemory(pid int) memory {
	var m memory
	m.peak, _ = procStatus(pid, "VmHWM")
	m.anon, _ = procStatus(pid, "RssAnon")
	m.file, _ = procStatus(pid, "RssFile")
	return m
}

// follower is a `kith daemon` process whose log lines the test reads as they come.
type follower struct {
	cmd   *exec.Cmd
	lines chan string
}

func startFollower(home string, extra ...string) (*follower, error) {
	cmd := exec.Command(kithBin, append([]string{"--home", home, "daemon", "--listen", "127.0.0.1:0"}, extra...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	f := &follower{cmd: cmd, lines: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case f.lines <- sc.Text():
			default: // nobody is reading: drop
			}
		}
		close(f.lines)
	}()
	return f, nil
}

// waitFor returns the first log line containing every one of subs.
func (f *follower) waitFor(timeout time.Duration, subs ...string) (string, error) {
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-f.lines:
			if !ok {
				return "", fmt.Errorf("daemon exited before logging %q", subs)
			}
			if containsAll(l, subs) {
				return l, nil
			}
		case <-deadline:
			return "", fmt.Errorf("no log line with %q in %v", subs, timeout)
		}
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// stop reads the process's memory, then ends the daemon.
func (f *follower) stop() memory {
	m := readMemory(f.cmd.Process.Pid)
	f.cmd.Process.Signal(os.Interrupt)
	f.cmd.Wait()
	return m
}
