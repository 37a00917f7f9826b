package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMissingComponent runs a test that needs a command nobody has, in a child test
// process, with and without CI=true: it must skip loudly outside CI and fail under it.
func TestMissingComponent(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") == "1" {
		Command(t, "kith-no-such-command", "no-such-package")
		t.Fatal("Command returned for a missing command")
	}
	for _, tc := range []struct {
		ci       string
		wantFail bool
		wantText string
	}{
		{"", false, "SKIPPED, MISSING COMPONENT: command kith-no-such-command (install: apt-get install no-such-package"},
		{"true", true, "MISSING COMPONENT under CI=true: command kith-no-such-command"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingComponent$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTENV_CHILD=1", "CI="+tc.ci)
		out, err := cmd.CombinedOutput()
		if failed := err != nil; failed != tc.wantFail {
			t.Errorf("CI=%q: child failed=%v, want %v\n%s", tc.ci, failed, tc.wantFail, out)
		}
		if !strings.Contains(string(out), tc.wantText) {
			t.Errorf("CI=%q: output lacks %q:\n%s", tc.ci, tc.wantText, out)
		}
	}
}
