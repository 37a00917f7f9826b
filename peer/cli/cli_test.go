package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	code = Run(context.Background(), args, e)
	return code, out.String(), errb.String()
}

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args     []string
		wantPos  []string
		wantName string
		wantTo   []string
	}{
		{[]string{"ID", "--name", "Bob"}, []string{"ID"}, "Bob", nil},
		{[]string{"--name", "Bob", "ID"}, []string{"ID"}, "Bob", nil},
		{[]string{"--to", "me", "hello", "--to", "public", "world"}, []string{"hello", "world"}, "", []string{"me", "public"}},
		{[]string{"--name=x", "--", "-5 degrees", "--to"}, []string{"-5 degrees", "--to"}, "x", nil},
	}
	for _, tc := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		name := fs.String("name", "", "")
		var to multi
		fs.Var(&to, "to", "")
		pos, err := parse(fs, tc.args, 0, -1)
		if err != nil {
			t.Fatalf("parse(%q): %v", tc.args, err)
		}
		if !reflect.DeepEqual(pos, tc.wantPos) || *name != tc.wantName || !reflect.DeepEqual([]string(to), tc.wantTo) {
			t.Errorf("parse(%q) = %q name=%q to=%q; want %q %q %q", tc.args, pos, *name, to, tc.wantPos, tc.wantName, tc.wantTo)
		}
	}
}

func TestHelp(t *testing.T) {
	code, out, _ := runCLI(t, nil, "--help")
	if code != ExitOK || !strings.Contains(out, "friend add") || !strings.Contains(out, "Exit codes") {
		t.Fatalf("kith --help: code %d, output:\n%s", code, out)
	}
	for _, c := range commands() {
		args := append(strings.Fields(c.name), "--help")
		code, out, _ := runCLI(t, nil, args...)
		if code != ExitOK || !strings.HasPrefix(out, "usage: kith [--home DIR] "+c.name) || len(out) < 60 {
			t.Errorf("kith %s --help: code %d, output:\n%s", c.name, code, out)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"frobnicate"}, ExitUsage, `unknown command "frobnicate"`},
		{[]string{"friend", "add"}, ExitUsage, "missing argument"},
		{[]string{"friend", "add", "not-an-id"}, ExitUsage, "malformed ID"},
		{[]string{"friend", "add", strings.Repeat("a", 52), "--addr", "nowhere"}, ExitUsage, "want HOST:PORT"},
		{[]string{"friend", "rm", "B" + strings.Repeat("A", 55)}, ExitUsage, "character 1 ('b') looks mistyped"},
		{[]string{"friend"}, ExitUsage, "kith friend rm"},
		{[]string{"group"}, ExitUsage, "kith group add"},
		{[]string{"post", " \t "}, ExitUsage, "the post is empty"},
		{[]string{"edit", "00112233445566778899aabbccddeeff", " "}, ExitUsage, "the new text is empty"},
		{[]string{"post", "--bogus", "x"}, ExitUsage, "flag provided but not defined: -bogus"},
		{[]string{"export"}, ExitUsage, "--out FILE is required"},
		{[]string{"daemon", "--rendezvous", "nohost"}, ExitUsage, "want HOST:PORT"},
		{[]string{"post", "--attach", filepath.Join(home, "missing.jpg"), "hi"}, ExitFailure, "no such file"},
		{[]string{"timeline"}, ExitNoDaemon, "no daemon is running for " + home + ": start it with 'kith --home " + home + " daemon'"},
		{[]string{"status", "--json"}, ExitNoDaemon, "start it with"},
	}
	for _, tc := range tests {
		code, _, errOut := runCLI(t, nil, append([]string{"--home", home}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("kith %q: code %d, stderr %q; want code %d mentioning %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

func TestHomeDefaults(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--home", "/x/h", "id"}, map[string]string{"KITH_HOME": "/y"}, "/x/h"},
		{[]string{"--home=/x/h", "id"}, nil, "/x/h"},
		{[]string{"id"}, map[string]string{"KITH_HOME": "/y", "HOME": "/z"}, "/y"},
		{[]string{"id"}, map[string]string{"HOME": "/z"}, "/z/.kith"},
	} {
		home, _, err := globalFlags(tc.args, Env{Getenv: func(k string) string { return tc.env[k] }})
		if err != nil || home != tc.want {
			t.Errorf("globalFlags(%q, %v) = %q, %v; want %q", tc.args, tc.env, home, err, tc.want)
		}
	}
}

func TestAttachTooBig(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.bin")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(MaxAttachment + 1) // sparse: no disk used
	f.Close()
	if _, err := checkAttachments([]string{big}); err == nil || !strings.Contains(err.Error(), "limit is 1 GiB") {
		t.Fatalf("checkAttachments(1 GiB + 1) = %v, want a too-big error", err)
	}
}
