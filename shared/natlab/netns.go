package natlab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// netnsDir is where iproute2 keeps named network namespaces.
const netnsDir = "/run/netns"

// testPrefix matches the namespaces of labs made by tests: natlab-<pid>-<random>-.
var testPrefix = regexp.MustCompile(`^natlab-([0-9]+)-[0-9a-f]+-`)

// run runs a command and returns its combined output, with the command in the error.
func run(ctx context.Context, name string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// inNetns runs f on an OS thread that has joined the named network namespace. Sockets
// f opens belong to that namespace for their whole life, wherever they are used later.
func inNetns(ns string, f func() error) error {
	target, err := os.Open(filepath.Join(netnsDir, ns))
	if err != nil {
		return fmt.Errorf("natlab: open namespace %s: %w", ns, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		// The thread is locked and never unlocked: if the namespace cannot be
		// restored, the thread dies with this goroutine instead of serving others.
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("natlab: open own namespace: %w", err)
			return
		}
		defer home.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("natlab: enter namespace %s: %w", ns, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("natlab: leave namespace %s: %w", ns, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// RemoveLeftovers deletes the namespaces of test labs whose process is gone (a test
// binary killed before its cleanup ran). Labs of running processes are left alone.
func RemoveLeftovers(ctx context.Context) error {
	entries, err := os.ReadDir(netnsDir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("natlab: list namespaces: %w", err)
	}
	var errs []string
	for _, e := range entries {
		m := testPrefix.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		if pid, _ := strconv.Atoi(m[1]); alive(pid) {
			continue
		}
		if _, err := run(ctx, "ip", "netns", "del", e.Name()); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("natlab: remove leftovers: %s", strings.Join(errs, "; "))
	}
	return nil
}

// alive reports whether a process with this pid exists.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := unix.Kill(pid, 0)
	return err == nil || err == unix.EPERM
}

// RemoveNamespaces deletes every namespace whose name starts with prefix: the
// by-hand lab's way down.
func RemoveNamespaces(ctx context.Context, prefix string) error {
	entries, err := os.ReadDir(netnsDir)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("natlab: list namespaces: %w", err)
	}
	var errs []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if _, err := run(ctx, "ip", "netns", "del", e.Name()); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("natlab: remove namespaces %s*: %s", prefix, strings.Join(errs, "; "))
	}
	return nil
}
