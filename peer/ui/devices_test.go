package ui_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	joinCode  = regexp.MustCompile(`init --join (join-[a-z2-7]+) --addr (\S+)</code>`)
)

// browse is an HTTP client logged in to n's web app (cookies kept).
func browse(t *testing.T, n *node) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar}
	resp, err := c.Get(n.loginURL(t))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return c
}

func devicePage(t *testing.T, c *http.Client, u string, form url.Values) (int, string) {
	t.Helper()
	var resp *http.Response
	var err error
	if form == nil {
		resp, err = c.Get(u)
	} else {
		resp, err = c.PostForm(u, form)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDevicesPage: the web app lists the devices, makes a join code a new home joins
// with, shows the new device, and removes it; a form without the session's CSRF token
// changes nothing.
func TestDevicesPage(t *testing.T) {
	alice := startNode(t, "alice")
	c := browse(t, alice)
	code, body := devicePage(t, c, alice.url+"devices", nil)
	if code != http.StatusOK || !strings.Contains(body, "(this device)") {
		t.Fatalf("GET /devices: %d\n%s", code, body)
	}
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("the devices page has no CSRF field")
	}
	csrf := m[1]
	if code, _ := devicePage(t, c, alice.url+"devices/add", url.Values{"name": {"laptop"}}); code != http.StatusForbidden {
		t.Fatalf("adding a device without the CSRF token: %d, want 403", code)
	}
	code, body = devicePage(t, c, alice.url+"devices/add", url.Values{"csrf": {csrf}, "name": {"laptop"}})
	jm := joinCode.FindStringSubmatch(body)
	if code != http.StatusOK || jm == nil {
		t.Fatalf("POST /devices/add: %d, no join command in\n%s", code, body)
	}
	laptop := filepath.Join(t.TempDir(), "laptop")
	out, err := exec.Command(kithBin(t), "--home", laptop, "init", "--join", jm[1], "--addr", jm[2]).CombinedOutput()
	if err != nil {
		t.Fatalf("kith init --join with the page's code: %v\n%s", err, out)
	}
	if _, body = devicePage(t, c, alice.url+"devices", nil); !strings.Contains(body, ">laptop<") && !strings.Contains(body, "laptop</th>") {
		t.Fatalf("the devices page does not list the laptop after it joined:\n%s", body)
	}
	if code, _ := devicePage(t, c, alice.url+"devices/remove", url.Values{"csrf": {"wrong"}, "name": {"laptop"}}); code != http.StatusForbidden {
		t.Fatalf("removing with a wrong CSRF token: %d, want 403", code)
	}
	if code, body := devicePage(t, c, alice.url+"devices/remove", url.Values{"csrf": {csrf}, "name": {"laptop"}}); code != http.StatusOK {
		t.Fatalf("POST /devices/remove: %d\n%s", code, body)
	}
	var ls struct {
		Devices []struct {
			Name string `json:"name"`
		} `json:"devices"`
	}
	if err := json.Unmarshal([]byte(alice.kith(t, "device", "ls", "--json")), &ls); err != nil {
		t.Fatal(err)
	}
	if len(ls.Devices) != 1 || ls.Devices[0].Name == "laptop" {
		t.Fatalf("after removing the laptop, device ls = %+v", ls.Devices)
	}
}
