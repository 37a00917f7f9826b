// Package testenv decides what a test does when a real component it needs is missing:
// skip loudly on a developer's machine, fail under CI=true, where nothing may be skipped.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// CI reports whether tests run under CI=true.
func CI() bool { return os.Getenv("CI") == "true" }

// Missing skips t, loudly, or fails it under CI=true. what says what is missing and
// install says how to get it.
func Missing(t testing.TB, what, install string) {
	t.Helper()
	if CI() {
		t.Fatalf("MISSING COMPONENT under CI=true: %s (install: %s; `make test` installs it as root)", what, install)
	}
	t.Skipf("SKIPPED, MISSING COMPONENT: %s (install: %s, or run `make test` as root)", what, install)
}

// Command returns the path of a command, or skips/fails t as Missing does.
func Command(t testing.TB, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "command "+name, "apt-get install "+debianPackage)
	}
	return path
}

// Root skips/fails t unless it runs as root (network namespaces, iptables).
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "root privileges (network namespaces and iptables)", "run the tests as root")
	}
}
