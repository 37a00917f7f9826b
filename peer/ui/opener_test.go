package ui_test

import (
	"bytes"
	"html"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Issue 13 item 3: `kith ui` hands the browser opener (a real process, here a script in
// xdg-open's place) the path of a 0600 page, never the token: not in its arguments, not in
// its environment. The page logs in exactly once.
func TestOpenerSeesNoToken(t *testing.T) {
	n := startNode(t, "ann")
	bin, rec := t.TempDir(), filepath.Join(t.TempDir(), "opener")
	script := "#!/bin/sh\n" +
		"tr '\\0' '\\n' < /proc/$$/cmdline > " + rec + ".argv.tmp\n" +
		"tr '\\0' '\\n' < /proc/$$/environ > " + rec + ".env\n" +
		"mv " + rec + ".argv.tmp " + rec + ".argv\n"
	if err := os.WriteFile(filepath.Join(bin, "xdg-open"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kithBin(t), "--home", n.home, "ui")
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "DISPLAY=:99")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("kith ui: %v\n%s", err, out.String())
	}
	link := strings.TrimSpace(out.String())
	u, err := url.Parse(link)
	token := u.Query().Get("token")
	if err != nil || len(token) < 20 {
		t.Fatalf("kith ui printed %q, want a login link with a token", link)
	}
	var argv []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if argv, err = os.ReadFile(rec + ".argv"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the opener never ran")
		}
	}
	env, _ := os.ReadFile(rec + ".env")
	if bytes.Contains(argv, []byte(token)) || bytes.Contains(env, []byte(token)) {
		t.Fatalf("the opener's arguments or environment hold the login token:\nargv: %s", argv)
	}
	args := strings.Split(strings.TrimSpace(string(argv)), "\n")
	page := args[len(args)-1]
	info, err := os.Stat(page)
	if err != nil || info.Mode().Perm() != 0o600 || !strings.HasPrefix(page, n.home) {
		t.Fatalf("opener argument %q: %v (mode %v); want a 0600 file in the home", page, err, info.Mode())
	}
	body, _ := os.ReadFile(page)
	m := regexp.MustCompile(`url=([^"]+)"`).FindSubmatch(body)
	if m == nil || html.UnescapeString(string(m[1])) != link {
		t.Fatalf("the page does not redirect to the login link:\n%s", body)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i, want := range []int{http.StatusSeeOther, http.StatusForbidden} {
		resp, err := noFollow.Get(html.UnescapeString(string(m[1])))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want || (want == http.StatusSeeOther) != (len(resp.Cookies()) > 0) {
			t.Fatalf("login %d through the page: %d with %d cookie(s), want %d", i+1, resp.StatusCode, len(resp.Cookies()), want)
		}
	}
	if _, err := os.Stat(page); !os.IsNotExist(err) {
		t.Errorf("the page stayed after its token was used: %v", err)
	}
}
