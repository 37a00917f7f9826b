package strength

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// kith's binary links this package and not the reference: the reference builds its
// dictionaries at package init, in every kith process.
func TestKithLinksNoReference(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/kithnet/kith/peer/cmd/kith").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := string(out)
	if !strings.Contains(deps, "github.com/kithnet/kith/peer/backup/strength\n") {
		t.Fatalf("kith does not link package strength; go list printed:\n%s", deps)
	}
	if strings.Contains(deps, "zxcvbn") {
		t.Errorf("kith links the reference estimator:\n%s", regexp.MustCompile(`(?m)^.*zxcvbn.*$`).FindAllString(deps, -1))
	}
}

// A process that never estimates builds nothing: in a fresh process (this test binary
// run again, with the Go runtime tracing package inits) the dictionaries and graphs are
// still unbuilt after every init ran, and this package's init allocates next to nothing.
func TestKithStartBuildsNoDictionary(t *testing.T) {
	if os.Getenv("STRENGTH_REPORT_STATE") == "1" {
		if words.rank != nil || graphs != nil {
			t.Fatal("the dictionaries or graphs were built before any estimate")
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKithStartBuildsNoDictionary$", "-test.count=1")
	cmd.Env = append(os.Environ(), "STRENGTH_REPORT_STATE=1", "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("fresh process: %v\n%s", err, out)
	}
	line := regexp.MustCompile(`init github.com/kithnet/kith/peer/backup/strength @\S+ ms, \S+ ms clock, (\d+) bytes`).FindSubmatch(out)
	if line == nil {
		return // no init work at all
	}
	if n, _ := strconv.Atoi(string(line[1])); n > 16<<10 {
		t.Errorf("package init allocates %d bytes, want under 16 KiB:\n%s", n, line[0])
	}
}
