package deploy

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kithnet/kith/shared/testenv"
)

// unit is a systemd unit file: section -> key -> every value the key was given.
type unit map[string]map[string][]string

func parseUnit(src string) (unit, error) {
	u := unit{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				return nil, fmt.Errorf("line %d: %q is neither a section nor key=value in a section", n, line)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u, sc.Err()
}

// has reports whether key is set in [Service] and its last value is want.
func (u unit) has(key, want string) bool {
	v := u["Service"][key]
	return len(v) > 0 && v[len(v)-1] == want
}

// rendezvousHardening is what kith-rendezvous.service must set in [Service]; "*" means
// any non-empty value.
var rendezvousHardening = [][2]string{
	{"DynamicUser", "yes"},
	{"NoNewPrivileges", "yes"},
	{"ProtectSystem", "strict"},
	{"ProtectHome", "yes"},
	{"PrivateTmp", "yes"},
	{"PrivateDevices", "yes"},
	{"CapabilityBoundingSet", ""},
	{"AmbientCapabilities", ""},
	{"ProtectKernelTunables", "yes"},
	{"ProtectKernelModules", "yes"},
	{"ProtectControlGroups", "yes"},
	{"RestrictNamespaces", "yes"},
	{"RestrictSUIDSGID", "yes"},
	{"LockPersonality", "yes"},
	{"MemoryDenyWriteExecute", "yes"},
	{"SystemCallArchitectures", "native"},
	{"RestrictAddressFamilies", "*"},
	{"SystemCallFilter", "*"},
	{"EnvironmentFile", "*"},
}

func checkHardening(u unit, want [][2]string) []string {
	var problems []string
	for _, kv := range want {
		v := u["Service"][kv[0]]
		switch {
		case len(v) == 0:
			problems = append(problems, fmt.Sprintf("[Service] %s is not set, want %q", kv[0], kv[1]))
		case kv[1] == "*" && v[len(v)-1] == "":
			problems = append(problems, fmt.Sprintf("[Service] %s is empty", kv[0]))
		case kv[1] != "*" && v[len(v)-1] != kv[1]:
			problems = append(problems, fmt.Sprintf("[Service] %s=%s, want %q", kv[0], v[len(v)-1], kv[1]))
		}
	}
	return problems
}

func readUnit(t *testing.T, name string) (string, unit) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	u, err := parseUnit(string(src))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(src), u
}

func TestRendezvousUnitHardening(t *testing.T) {
	_, u := readUnit(t, "kith-rendezvous.service")
	for _, p := range checkHardening(u, rendezvousHardening) {
		t.Error(p)
	}
	if len(u["Service"]["User"]) > 0 {
		t.Error("User= set: DynamicUser=yes makes a transient user, a fixed one defeats it")
	}
	if got := u["Install"]["WantedBy"]; !slices.Equal(got, []string{"multi-user.target"}) {
		t.Errorf("WantedBy %v, want multi-user.target (a system service)", got)
	}
}

func TestKithUserUnit(t *testing.T) {
	_, u := readUnit(t, "kith.service")
	exec := strings.Join(u["Service"]["ExecStart"], " ")
	if !strings.Contains(exec, "kith ") || (!strings.HasSuffix(exec, " daemon") && !strings.Contains(exec, " daemon ")) {
		t.Errorf("ExecStart %q, want `kith ... daemon`", exec)
	}
	if !strings.Contains(exec, "%h") {
		t.Errorf("ExecStart %q does not place the home under the user's %%h", exec)
	}
	if got := u["Install"]["WantedBy"]; !slices.Equal(got, []string{"default.target"}) {
		t.Errorf("WantedBy %v, want default.target (a user service)", got)
	}
	if len(u["Service"]["User"]) > 0 || len(u["Service"]["DynamicUser"]) > 0 {
		t.Error("a user service runs as its user: no User= or DynamicUser=")
	}
	if !u.has("NoNewPrivileges", "yes") {
		t.Error("NoNewPrivileges=yes not set")
	}
}

func TestCheckHardeningRejects(t *testing.T) {
	src, _ := readUnit(t, "kith-rendezvous.service")
	for _, drop := range []string{"DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "CapabilityBoundingSet="} {
		u, err := parseUnit(strings.Replace(src, "\n"+drop+"\n", "\n", 1))
		if err != nil {
			t.Fatal(err)
		}
		key, _, _ := strings.Cut(drop, "=")
		if !slices.ContainsFunc(checkHardening(u, rendezvousHardening), func(p string) bool { return strings.Contains(p, key) }) {
			t.Errorf("without %s the unit passes the hardening check", drop)
		}
	}
	u, _ := parseUnit(strings.Replace(src, "ProtectSystem=strict", "ProtectSystem=full", 1))
	if len(checkHardening(u, rendezvousHardening)) == 0 {
		t.Error("ProtectSystem=full passes the hardening check; want strict")
	}
}

// unitVerifier runs `systemd-analyze verify` on copies of the units whose ExecStart
// points at binaries built from this module, so the check of the command path is real.
type unitVerifier struct {
	analyze string // systemd-analyze
	bin     string // folder holding kith and kith-rendezvous
}

func newUnitVerifier(t *testing.T) unitVerifier {
	t.Helper()
	analyze := testenv.Command(t, "systemd-analyze", "systemd")
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not on PATH: %v", err)
	}
	bin := t.TempDir()
	build := exec.Command(goTool, "build", "-o", bin+string(os.PathSeparator), "./peer/cmd/kith", "./rendezvous/cmd/kith-rendezvous")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return unitVerifier{analyze: analyze, bin: bin}
}

// verify writes src as name into a fresh folder, with /usr/local/bin/ replaced by the
// built binaries, and runs systemd-analyze verify (--user for a user unit). Any output
// counts as a failure: systemd-analyze only warns, exit status 0, on an unknown key or
// an unparseable value, which is exactly the mistake worth catching.
func (v unitVerifier) verify(t *testing.T, name, src string, user bool) error {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(src, "/usr/local/bin/", v.bin+"/")), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"verify", path}
	if user {
		args = []string{"--user", "verify", path}
	}
	cmd := exec.Command(v.analyze, args...)
	// A user manager needs a runtime folder; a fresh HOME keeps %h and user units local.
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+dir, "HOME="+dir, "SYSTEMD_LOG_COLOR=0")
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		return fmt.Errorf("systemd-analyze %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

func TestSystemdAnalyzeVerify(t *testing.T) {
	v := newUnitVerifier(t)
	units := []struct {
		name string
		user bool
	}{
		{"kith-rendezvous.service", false},
		{"kith.service", true},
	}
	for _, u := range units {
		t.Run(u.name, func(t *testing.T) {
			src, _ := readUnit(t, u.name)
			if err := v.verify(t, u.name, src, u.user); err != nil {
				t.Error(err)
			}
			// The same unit with a real mistake must fail, or the check above proves nothing.
			mistakes := map[string]string{
				"misspelled key": strings.Replace(src, "NoNewPrivileges=yes", "NoNewPrivilege=yes", 1),
				"bad value":      strings.Replace(src, "NoNewPrivileges=yes", "NoNewPrivileges=perhaps", 1),
				"missing binary": strings.Replace(src, "\nExecStart=/usr/local/bin/", "\nExecStart=/nonexistent/", 1),
			}
			for what, bad := range mistakes {
				if bad == src {
					t.Fatalf("%s: the mutation did not change the unit", what)
				}
				if err := v.verify(t, u.name, bad, u.user); err == nil {
					t.Errorf("%s: systemd-analyze verify accepted the unit", what)
				}
			}
		})
	}
}
