package ui_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestJoinedDeviceWebApp (issue 16): on a joined device the web app replies as the
// person (the device signs with its chain), and the key download, which needs the
// identity key itself, answers 409 with the reason and where to go instead.
func TestJoinedDeviceWebApp(t *testing.T) {
	alice := startNode(t, "alice")
	pid := alice.kith(t, "post", "alice's own post")
	c := browse(t, alice)
	_, body := devicePage(t, c, alice.url+"devices", nil)
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("the devices page has no CSRF field")
	}
	_, body = devicePage(t, c, alice.url+"devices/add", url.Values{"csrf": {m[1]}, "name": {"laptop"}})
	jm := joinCode.FindStringSubmatch(body)
	if jm == nil {
		t.Fatalf("no join command in\n%s", body)
	}
	laptop := &node{name: "laptop", home: filepath.Join(t.TempDir(), "laptop"), listen: freeUDP(t), id: alice.id}
	if out, err := exec.Command(kithBin(t), "--home", laptop.home, "init", "--join", jm[1], "--addr", jm[2]).CombinedOutput(); err != nil {
		t.Fatalf("kith init --join: %v\n%s", err, out)
	}
	laptop.start(t)
	lc := browse(t, laptop)
	_, body = devicePage(t, lc, laptop.url+"devices", nil)
	lm := csrfField.FindStringSubmatch(body)
	if lm == nil {
		t.Fatal("the laptop's devices page has no CSRF field")
	}
	csrf := lm[1]

	if code, body := devicePage(t, lc, laptop.url+"post/"+pid+"/reply", url.Values{"csrf": {csrf}, "text": {"a reply from the laptop's web app"}}); code != http.StatusOK {
		t.Fatalf("replying from the laptop's web app: %d\n%.600s", code, body)
	}
	var th struct {
		Replies []struct {
			Author string `json:"author"`
			Text   string `json:"text"`
		} `json:"replies"`
	}
	if err := json.Unmarshal([]byte(laptop.kith(t, "thread", pid, "--json")), &th); err != nil {
		t.Fatal(err)
	}
	if len(th.Replies) != 1 || th.Replies[0].Text != "a reply from the laptop's web app" || th.Replies[0].Author != alice.id {
		t.Fatalf("the thread on the laptop: %+v; want the web app's reply as Alice's (%s)", th.Replies, alice.id)
	}

	pass := "copper lantern drifts sideways"
	code, body := devicePage(t, lc, laptop.url+"backup/key", url.Values{"csrf": {csrf}, "passphrase": {pass}, "confirm": {pass}})
	if code != http.StatusConflict || !strings.Contains(body, "does not hold the identity key") || !strings.Contains(body, "run it on the device that does") {
		t.Fatalf("the key download on the laptop: %d; want 409 saying where the identity is\n%.600s", code, body)
	}
	if code, _ := devicePage(t, c, alice.url+"backup/key", url.Values{"csrf": {m[1]}, "passphrase": {pass}, "confirm": {pass}}); code != http.StatusOK {
		t.Fatalf("the key download on Alice's first device: %d, want 200", code)
	}
}
