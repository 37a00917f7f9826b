package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"filippo.io/age/armor"

	"github.com/kithnet/kith/peer/backup"
)

// Issue 13 item 10: the released binary refuses weak passphrases for new backups with a
// reason, and no environment variable lowers scrypt's work factor.
func TestBackupPassphraseRule(t *testing.T) {
	home, _ := newHome(t, "ann")
	startDaemon(t, home, "127.0.0.1:0")
	dir := t.TempDir()
	run := func(pass string, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(kithBin, append([]string{"--home", home}, args...)...)
		cmd.Env = append(os.Environ(), "KITH_PASSPHRASE="+pass, "KITH_SCRYPT_WORK_FACTOR=10")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, tc := range []struct{ pass, why string }{
		{"x", "characters"},
		{"password1", "characters"},
		{"passwordpassword", "guesses"},
		{"qwertyuiop123", "guesses"},
	} {
		for _, cmd := range [][]string{{"export", "--out"}, {"key", "export", "--out"}} {
			out := filepath.Join(dir, "weak.age")
			got, err := run(tc.pass, append(cmd, out)...)
			if err == nil || !strings.Contains(got, "passphrase too weak") || !strings.Contains(got, tc.why) {
				t.Errorf("kith %s with %q: %v\n%s\nwant a refusal naming %q", strings.Join(cmd, " "), tc.pass, err, got, tc.why)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("kith %s with %q wrote %s", strings.Join(cmd, " "), tc.pass, out)
			}
		}
	}
	const strong = "copper lantern drifts sideways"
	exp, key := filepath.Join(dir, "home.age"), filepath.Join(dir, "key.age")
	if out, err := run(strong, "export", "--out", exp); err != nil {
		t.Fatalf("export with a strong passphrase: %v\n%s", err, out)
	}
	if out, err := run(strong, "key", "export", "--out", key); err != nil {
		t.Fatalf("key export with a strong passphrase: %v\n%s", err, out)
	}
	for _, f := range []string{exp, key} {
		if wf := scryptWorkFactor(t, f); wf != strconv.Itoa(backup.DefaultWorkFactor) {
			t.Errorf("%s: scrypt work factor %s under KITH_SCRYPT_WORK_FACTOR=10, want %d", filepath.Base(f), wf, backup.DefaultWorkFactor)
		}
	}
}

// scryptWorkFactor reads the work factor from an age file's scrypt stanza
// ("-> scrypt SALT N"), armored or not.
func scryptWorkFactor(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r *bufio.Reader
	if bytes.HasPrefix(raw, []byte(armor.Header)) {
		r = bufio.NewReader(armor.NewReader(bytes.NewReader(raw)))
	} else {
		r = bufio.NewReader(bytes.NewReader(raw))
	}
	for {
		line, err := r.ReadString('\n')
		if f := strings.Fields(line); len(f) == 4 && f[0] == "->" && f[1] == "scrypt" {
			return f[3]
		}
		if err != nil {
			t.Fatalf("%s: no scrypt stanza in the age header", path)
		}
	}
}
