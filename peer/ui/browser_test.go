package ui_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/kithnet/kith/shared/testenv"
)

// browser starts one headless Chromium for a test; tabs share it, each in its own
// browser context (its own cookies), as separate people's browsers would be.
func browser(t testing.TB) context.Context {
	t.Helper()
	path := testenv.Command(t, "chromium", "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path),
		chromedp.NoSandbox, chromedp.Headless, chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// tab opens a tab in a fresh browser context.
func tab(t testing.TB, bctx context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	return ctx
}

// do runs steps with a time limit, failing the test with what was being done.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// doRerendered is do for steps on a part of the page that a live update may render
// afresh between chromedp finding a node and acting on it ("Could not find node with
// given id"): the steps run again on the fresh page, at most three times in all.
func doRerendered(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	for try := 1; ; try++ {
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := chromedp.Do(c, steps...)
		cancel()
		if err == nil {
			return
		}
		if try == 3 || !strings.Contains(err.Error(), "Could not find node with given id") {
			t.Fatalf("%s (try %d): %v", what, try, err)
		}
	}
}

// eval evaluates a JavaScript expression in the tab.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// evalAwait evaluates a JavaScript expression that yields a promise, and its result.
func evalAwait[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// until waits up to d for a JavaScript condition to hold in the tab.
func until(t *testing.T, ctx context.Context, d time.Duration, what, expr string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	err := waitFor(c, func() (bool, error) {
		v, err := chromedp.Run(c, chromedp.Evaluate[bool](expr))
		if err != nil && c.Err() == nil {
			return false, nil // a navigation in progress; ask again
		}
		return v, err
	})
	if err != nil {
		t.Fatalf("waiting %v for %s (%s): %v", d, what, expr, err)
	}
}

// login opens a fresh `kith ui` link in the tab and waits for the timeline.
func login(t *testing.T, ctx context.Context, n *node) {
	t.Helper()
	do(t, ctx, n.name+": log in", chromedp.Navigate(n.loginURL(t)), chromedp.WaitVisible(chromedp.CSS("#compose")))
}

// screenshots saves the tab's page at phone and desktop sizes as <dir>/<name>-phone.png
// and <name>-desktop.png.
func screenshots(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	for _, size := range []struct {
		label string
		w, h  int64
	}{{"phone", 390, 844}, {"desktop", 1280, 800}} {
		var opts []chromedp.EmulateViewportOption
		if size.label == "phone" {
			opts = append(opts, chromedp.EmulateScale(2), chromedp.EmulateMobile)
		}
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		if err := chromedp.Do(c, chromedp.EmulateViewport(size.w, size.h, opts...), chromedp.Sleep(150*time.Millisecond)); err != nil {
			cancel()
			t.Fatalf("screenshot %s: %v", name, err)
		}
		png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		p := filepath.Join(dir, name+"-"+size.label+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}
	do(t, ctx, "reset viewport", chromedp.EmulateViewport(1280, 800))
}

// screenshotDir is where screenshots go: $KITH_UI_SCREENSHOTS, or a new directory
// under the system's temporary directory that outlives the test, for a reviewer.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("KITH_UI_SCREENSHOTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "kith-ui-screenshots-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// TestWebApp drives the web apps of three daemons in one headless Chromium: login with
// one-time tokens, a photo posted to a group reaching a member live and never a
// non-member, markup shown as text, CSRF and Host checks, and every page screenshotted.
func TestWebApp(t *testing.T) {
	start := time.Now()
	bctx := browser(t)
	shots := screenshotDir(t)
	a, b, c := startNode(t, "Ann"), startNode(t, "Bea"), startNode(t, "Cal")
	a.kith(t, "friend", "add", b.id, "--name", "Bea", "--addr", b.listen, "--group", "family")
	a.kith(t, "friend", "add", c.id, "--name", "Cal", "--addr", c.listen, "--group", "work")
	b.kith(t, "friend", "add", a.id, "--name", "Ann", "--addr", a.listen)
	c.kith(t, "friend", "add", a.id, "--name", "Ann", "--addr", a.listen)
	photo := writePhoto(t, t.TempDir(), "beach.png", 640, 420)

	ta, tb, tc := tab(t, bctx), tab(t, bctx), tab(t, bctx)

	t.Run("login page and wrong token", func(t *testing.T) {
		do(t, ta, "open login page", chromedp.Navigate(a.url+"login"), chromedp.WaitVisible(chromedp.CSS("#token")))
		screenshots(t, ta, shots, "login")
		do(t, ta, "wrong token", chromedp.Navigate(a.url+"login?token=not-a-token"))
		if got := eval[string](t, ta, `document.querySelector(".error")?.textContent || ""`); !strings.Contains(got, "wrong, expired or already used") {
			t.Fatalf("a wrong token: page says %q, want a refusal", got)
		}
		do(t, ta, "timeline without login", chromedp.Navigate(a.url))
		if loc := eval[string](t, ta, `location.pathname`); loc != "/login" {
			t.Fatalf("the timeline without a session went to %s, want /login", loc)
		}
	})

	t.Run("reused token", func(t *testing.T) {
		link := a.loginURL(t)
		do(t, ta, "log in", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#compose")))
		other := tab(t, bctx)
		do(t, other, "reuse the token", chromedp.Navigate(link))
		if got := eval[string](t, other, `document.querySelector(".error")?.textContent || ""`); !strings.Contains(got, "already used") {
			t.Fatalf("a reused token: page says %q, want a refusal", got)
		}
		if eval[bool](t, other, `!!document.querySelector("#compose")`) {
			t.Fatal("a reused token logged a second browser in")
		}
	})

	login(t, tb, b)
	login(t, tc, c)
	const text = "Beach day with the family #Holiday <b>bold</b><script>window.pwned=1</script>"

	t.Run("A posts a photo to a group from the page", func(t *testing.T) {
		do(t, ta, "compose",
			chromedp.SetValue(chromedp.CSS("#text"), text),
			chromedp.SetUploadFiles(chromedp.CSS("#photos"), []string{photo}),
			chromedp.Click(chromedp.CSS(`input[name=to][value=friends]`)),
			chromedp.Click(chromedp.CSS(`input[name=to][value="group:family"]`)),
		)
		screenshots(t, ta, shots, "compose")
		do(t, ta, "post", chromedp.Click(chromedp.CSS(`#compose button[type=submit]`)))
		until(t, ta, 15*time.Second, "A's own post with its photo", `document.querySelectorAll("#posts article.post .photos img").length === 1`)
		until(t, ta, 5*time.Second, "the thumbnail to load", `document.querySelector("#posts article.post .photos img").naturalWidth === 480`)
		full := evalAwait[int](t, ta, `fetch(document.querySelector("#posts article.post .photos a").href).then(r => r.blob()).then(createImageBitmap).then(b => b.width)`)
		if full != 640 {
			t.Fatalf("the full-size photo behind the thumbnail is %d px wide, want 640", full)
		}
		screenshots(t, ta, shots, "timeline")
	})

	t.Run("photos can be dropped on the composer", func(t *testing.T) {
		n := eval[int](t, tc, `(() => {
			const dt = new DataTransfer();
			dt.items.add(new File([new Uint8Array([137, 80, 78, 71])], "dropped.png", {type: "image/png"}));
			document.getElementById("drop").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
			return document.getElementById("photos").files.length;
		})()`)
		if n != 1 || !strings.Contains(eval[string](t, tc, `document.getElementById("picked").textContent`), "dropped.png") {
			t.Fatalf("after a drop the file input holds %d files, want 1 listed as dropped.png", n)
		}
		do(t, tc, "reset", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#compose")))
	})

	t.Run("markup renders as text", func(t *testing.T) {
		got := eval[string](t, ta, `document.querySelector("#posts article.post .text").textContent`)
		if got != text {
			t.Fatalf("the post's text shows as %q, want exactly %q", got, text)
		}
		if eval[bool](t, ta, `!!document.querySelector("#posts article.post .text b, #posts article.post .text script") || window.pwned === 1`) {
			t.Fatal("markup in a post became elements of the page")
		}
		if got := eval[string](t, ta, `document.querySelector("#posts a.tag").getAttribute("href")`); got != "/?tag=holiday" {
			t.Fatalf("the hashtag links to %q, want /?tag=holiday", got)
		}
	})

	t.Run("B, in the group, sees the photo live after sync", func(t *testing.T) {
		until(t, tb, 5*time.Second, "B's live stream", `document.body.dataset.live === "1"`)
		eval[bool](t, tb, `window.notReloaded = true`)
		b.kith(t, "sync")
		if tl := b.kith(t, "timeline", "--json"); !strings.Contains(tl, "Beach day") {
			t.Fatalf("after sync, B's timeline lacks A's group post: %s", tl)
		}
		until(t, tb, 20*time.Second, "A's photo in B's timeline", `[...document.querySelectorAll("#posts article.post")].some(a => a.querySelector(".text").textContent === `+jsString(text)+` && a.querySelector(".photos img"))`)
		until(t, tb, 5*time.Second, "the photo to load in B", `document.querySelector("#posts article.post .photos img").naturalWidth === 480`)
		if !eval[bool](t, tb, `window.notReloaded === true`) {
			t.Fatal("B's page reloaded; the post should arrive live")
		}
		if got := eval[string](t, tb, `document.querySelector("#posts article.post .author").textContent`); got != "Ann" {
			t.Fatalf("B sees the author as %q, want Ann", got)
		}
		screenshots(t, tb, shots, "timeline-member")
	})

	t.Run("C, outside the group, never sees it", func(t *testing.T) {
		c.kith(t, "sync")
		do(t, tc, "reload C's timeline", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#compose")))
		if eval[bool](t, tc, `document.body.textContent.includes("Beach day") || !!document.querySelector("#posts img")`) {
			t.Fatal("C, outside the group, sees A's post")
		}
		if tl := c.kith(t, "timeline", "--json"); strings.Contains(tl, "Beach day") {
			t.Fatalf("C's timeline holds A's group post: %s", tl)
		}
	})

	t.Run("other pages", func(t *testing.T) {
		for _, p := range []struct{ path, name, ready string }{
			{"friends", "friends", "#add-friend"},
			{"connections", "connections", "#sync-all"},
			{"backup", "backup", "#exp-pass"},
			{"?tag=holiday", "timeline-tag", "#posts"},
		} {
			do(t, ta, "open "+p.path, chromedp.Navigate(a.url+p.path), chromedp.WaitVisible(chromedp.CSS(p.ready)))
			screenshots(t, ta, shots, p.name)
		}
		do(t, ta, "friends page", chromedp.Navigate(a.url+"friends"), chromedp.WaitVisible(chromedp.CSS("#my-id")))
		if got := eval[string](t, ta, `document.querySelector("#my-id").textContent`); got != a.id {
			t.Fatalf("friends page shows my ID as %q, want %s", got, a.id)
		}
		until(t, ta, 5*time.Second, "the QR code", `document.querySelector("img.qr").naturalWidth > 0`)
	})

	t.Run("edit and delete own post", func(t *testing.T) {
		do(t, ta, "open timeline", chromedp.Navigate(a.url), chromedp.WaitVisible(chromedp.CSS("#compose")))
		do(t, ta, "post a second one", chromedp.SetValue(chromedp.CSS("#text"), "typo pots"),
			chromedp.Click(chromedp.CSS(`#compose button[type=submit]`)))
		until(t, ta, 10*time.Second, "the second post", `document.querySelectorAll("#posts article.post").length === 2`)
		doRerendered(t, ta, "edit it",
			chromedp.Click(chromedp.CSS(`#posts article.post details.own summary`)),
			chromedp.SetValue(chromedp.CSS(`#posts article.post form.edit textarea`), "typo fixed #edited"),
			chromedp.Click(chromedp.CSS(`#posts article.post form.edit button`)))
		until(t, ta, 10*time.Second, "the edited text", `document.querySelector("#posts article.post .text").textContent === "typo fixed #edited" && !!document.querySelector("#posts article.post .edited")`)
		eval[bool](t, ta, `(window.confirm = () => true, true)`)
		doRerendered(t, ta, "delete it", chromedp.Click(chromedp.CSS(`#posts article.post details.own summary`)),
			chromedp.Click(chromedp.CSS(`#posts article.post form.delete button`)))
		until(t, ta, 10*time.Second, "one post left", `document.querySelectorAll("#posts article.post").length === 1`)
		if tl := a.kith(t, "timeline", "--json"); strings.Contains(tl, "typo") {
			t.Fatalf("the deleted post is still in the timeline: %s", tl)
		}
	})

	t.Run("friends: add, rename, regroup, remove", func(t *testing.T) {
		d := newHome(t, "Dee")
		do(t, ta, "add a friend", chromedp.Navigate(a.url+"friends"), chromedp.WaitVisible(chromedp.CSS("#add-friend")),
			chromedp.SetValue(chromedp.CSS("#add-id"), d.id), chromedp.SetValue(chromedp.CSS("#add-name"), "Dee"),
			chromedp.SetValue(chromedp.CSS("#add-groups"), "family, climbing"),
			chromedp.Click(chromedp.CSS("#add-friend button")))
		dee := `details.friend:has(input[value="` + d.id + `"])`
		until(t, ta, 10*time.Second, "Dee in the list", `!!document.querySelector(`+jsString(dee)+`)`)
		if fl := a.kith(t, "friend", "ls", "--json"); !strings.Contains(fl, d.id) || !strings.Contains(fl, "climbing") {
			t.Fatalf("after adding Dee on the page: %s", fl)
		}
		do(t, ta, "rename and regroup",
			chromedp.Click(chromedp.CSS(`details.friend:has(input[value="`+d.id+`"]) summary`)),
			chromedp.SetValue(chromedp.CSS("#n-"+d.id), "Deirdre"),
			chromedp.SetValue(chromedp.CSS("#g-"+d.id), "climbing"),
			chromedp.Click(chromedp.CSS(`details.friend:has(input[value="`+d.id+`"]) form button`)))
		until(t, ta, 10*time.Second, "Deirdre in the list", `document.querySelector(`+jsString(dee+" summary")+`)?.textContent.includes("Deirdre")`)
		var friends []struct {
			ID, Name string
			Groups   []string
		}
		if err := json.Unmarshal([]byte(a.kith(t, "friend", "ls", "--json")), &friends); err != nil {
			t.Fatal(err)
		}
		for _, f := range friends {
			if f.ID == d.id && (f.Name != "Deirdre" || strings.Join(f.Groups, ",") != "climbing") {
				t.Fatalf("after renaming and regrouping Dee: %+v, want Deirdre in climbing only", f)
			}
		}
		eval[bool](t, ta, `(window.confirm = () => true, true)`)
		do(t, ta, "remove", chromedp.Click(chromedp.CSS(`details.friend:has(input[value="`+d.id+`"]) summary`)),
			chromedp.Click(chromedp.CSS(`form[action="/friends/`+d.id+`/remove"] button`)))
		until(t, ta, 10*time.Second, "Dee gone from the list", `!document.querySelector(`+jsString(dee)+`)`)
		if fl := a.kith(t, "friend", "ls", "--json"); strings.Contains(fl, d.id) {
			t.Fatalf("Dee is still a friend after removal: %s", fl)
		}
	})

	t.Run("adding a friend to a group says how many posts they will now see, and asks", func(t *testing.T) {
		cal := `details.friend:has(input[value="` + c.id + `"])`
		regroup := func(what string) {
			t.Helper()
			do(t, ta, what, chromedp.Navigate(a.url+"friends"), chromedp.WaitVisible(chromedp.CSS("#add-friend")),
				chromedp.Click(chromedp.CSS(cal+" summary")),
				chromedp.SetValue(chromedp.CSS("#g-"+c.id), "work, family"),
				chromedp.Click(chromedp.CSS(cal+" form button")))
			until(t, ta, 10*time.Second, "the question", `!!document.querySelector("#group-confirm")`)
		}
		inFamily := func() bool {
			t.Helper()
			var fs []struct {
				ID     string
				Groups []string
			}
			if err := json.Unmarshal([]byte(a.kith(t, "friend", "ls", "--json")), &fs); err != nil {
				t.Fatal(err)
			}
			for _, f := range fs {
				if f.ID == c.id {
					return slices.Contains(f.Groups, "family")
				}
			}
			t.Fatalf("Cal is not a friend of Ann: %+v", fs)
			return false
		}
		regroup("put Cal in family")
		q := eval[string](t, ta, `document.querySelector("#group-confirm").textContent`)
		if !regexp.MustCompile(`Cal will now see [1-9]\d* of your existing posts \(those for group family\)`).MatchString(q) {
			t.Fatalf("the question says %q, want how many existing posts Cal will now see", q)
		}
		if inFamily() {
			t.Fatal("Cal joined family before Ann answered")
		}
		do(t, ta, "cancel", chromedp.Click(chromedp.CSS(`#group-confirm a`)), chromedp.WaitVisible(chromedp.CSS("#add-friend")))
		if inFamily() {
			t.Fatal("Cal joined family although Ann cancelled")
		}
		regroup("put Cal in family again")
		do(t, ta, "go ahead", chromedp.Click(chromedp.CSS(`#group-confirm button`)))
		until(t, ta, 10*time.Second, "back on the friends page", `!document.querySelector("#group-confirm") && !!document.querySelector("#add-friend")`)
		if !inFamily() {
			t.Fatal("Cal is not in family after Ann went ahead")
		}
		a.kith(t, "group", "rm", "family", "Cal") // the later subtests keep Cal outside family
	})

	t.Run("backups download and the export imports", func(t *testing.T) {
		do(t, ta, "backup page", chromedp.Navigate(a.url+"backup"), chromedp.WaitVisible(chromedp.CSS("#exp-pass")))
		const get = `(async (path) => {
			const body = new URLSearchParams({passphrase: "correct horse battery", confirm: "correct horse battery"});
			const r = await fetch(path, {method: "POST", body, headers: {"X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content}});
			const b = new Uint8Array(await r.arrayBuffer());
			let s = ""; for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
			return r.status + " " + r.headers.get("Content-Disposition") + "\n" + btoa(s);
		})`
		key := evalAwait[string](t, ta, get+`("/backup/key")`)
		head, body, _ := strings.Cut(key, "\n")
		if !strings.HasPrefix(head, "200 attachment") || !strings.Contains(decode64(t, body), "BEGIN AGE ENCRYPTED FILE") {
			t.Fatalf("key backup: %q, body %.60q", head, decode64(t, body))
		}
		exp := evalAwait[string](t, ta, get+`("/backup/export")`)
		head, body, _ = strings.Cut(exp, "\n")
		if !strings.HasPrefix(head, "200 attachment") {
			t.Fatalf("export: %q", head)
		}
		file := filepath.Join(t.TempDir(), "export.age")
		os.WriteFile(file, []byte(decode64(t, body)), 0o600)
		fresh := &node{name: "restored", home: filepath.Join(t.TempDir(), "home")}
		cmd := exec.Command(kithBin(t), "--home", fresh.home, "import", file)
		cmd.Env = append(os.Environ(), "KITH_PASSPHRASE=correct horse battery")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kith import of the web export: %v\n%s", err, out)
		}
		if id := fresh.kith(t, "id"); id != a.id {
			t.Fatalf("the imported home is %s, want %s", id, a.id)
		}
	})

	t.Run("every control has a label", func(t *testing.T) {
		for _, p := range []string{"", "friends", "connections", "backup"} {
			do(t, ta, "open /"+p, chromedp.Navigate(a.url+p), chromedp.WaitVisible(chromedp.CSS("main")))
			bad := eval[[]string](t, ta, `[...document.querySelectorAll("input:not([type=hidden]), textarea, select, button")]
				.filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !e.textContent.trim())
				.map(e => e.outerHTML)`)
			if len(bad) > 0 {
				t.Errorf("/%s: controls without a label: %v", p, bad)
			}
		}
		do(t, ta, "keyboard", chromedp.Navigate(a.url), chromedp.WaitVisible(chromedp.CSS("#compose")), chromedp.KeyEvent("\t"))
		if got := eval[string](t, ta, `document.activeElement.className`); got != "skip" {
			t.Errorf("the first Tab focuses %q, want the skip link", got)
		}
	})

	t.Run("cross-site POST without the CSRF token is refused", func(t *testing.T) {
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%spost"><input name="text" value="forged post"><input name="to" value="public"></form><script>document.getElementById("f").submit()</script>`, a.url)
		}))
		defer evil.Close()
		do(t, ta, "visit a hostile page", chromedp.Navigate(evil.URL))
		until(t, ta, 10*time.Second, "the forged POST's answer", `location.href === `+jsString(a.url+"post"))
		if got := eval[string](t, ta, `document.body.textContent`); !strings.Contains(got, "CSRF") {
			t.Fatalf("the forged POST got %q, want a CSRF refusal", got)
		}
		if tl := a.kith(t, "timeline", "--json"); strings.Contains(tl, "forged post") {
			t.Fatal("a cross-site POST created a post")
		}
		// And from the app's own origin, a script without the token is refused too.
		do(t, ta, "back to the app", chromedp.Navigate(a.url), chromedp.WaitVisible(chromedp.CSS("#compose")))
		code := evalAwait[int](t, ta, `fetch("/post", {method: "POST", body: new URLSearchParams({text: "no token"})}).then(r => r.status)`)
		if code != http.StatusForbidden {
			t.Fatalf("a POST without the CSRF token got %d, want 403", code)
		}
	})

	t.Run("the compose form posts without JavaScript", func(t *testing.T) {
		tn := tab(t, bctx)
		if _, err := chromedp.Call(tn, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatalf("disable JavaScript: %v", err)
		}
		login(t, tn, a)
		const plain = "Posted with scripts off #noscript"
		do(t, tn, "compose without script",
			chromedp.SetValue(chromedp.CSS("#text"), plain),
			chromedp.SetUploadFiles(chromedp.CSS("#photos"), []string{photo}))
		eval[bool](t, tn, `window.beforeSubmit = true`) // gone once the POST's answer is the page
		do(t, tn, "submit the plain form", chromedp.Click(chromedp.CSS(`#compose button[type=submit]`)))
		until(t, tn, 15*time.Second, "the answer to the plain POST", `!window.beforeSubmit && document.readyState === "complete"`)
		if eval[string](t, tn, `document.body.dataset.live || ""`) != "" {
			t.Fatal("the page's script ran; this tab must have JavaScript off")
		}
		if got := eval[string](t, tn, `document.body.textContent`); strings.Contains(got, "CSRF") || !strings.Contains(got, plain) {
			t.Fatalf("after the plain form POST the page says %.300q, want the timeline with the new post", got)
		}
		if tl := a.kith(t, "timeline", "--json"); !strings.Contains(tl, plain) || !strings.Contains(tl, "beach.png") {
			t.Fatalf("the post from the form without script (and its photo) is not in the timeline: %s", tl)
		}
	})

	t.Run("foreign Host header is refused", func(t *testing.T) {
		req, _ := http.NewRequest("GET", a.url+"login", nil)
		req.Host = "rebind.attacker.example" + a.url[strings.LastIndex(a.url, ":"):len(a.url)-1]
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Fatalf("Host %s got %d, want 421", req.Host, resp.StatusCode)
		}
		req.Host = strings.TrimPrefix(strings.TrimSuffix(a.url, "/"), "http://")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("the bound Host %s got %d, want 200", req.Host, resp.StatusCode)
		}
	})
	t.Run("audience, video and audio players, files not called photos", func(t *testing.T) {
		dir := t.TempDir()
		clip, notes := filepath.Join(dir, "clip.wav"), filepath.Join(dir, "notes.txt")
		wav := append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), make([]byte, 32)...)
		if err := os.WriteFile(clip, wav, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(notes, []byte("not a photo"), 0o600); err != nil {
			t.Fatal(err)
		}
		a.kith(t, "post", "--to", "family", "--attach", clip, "--attach", notes, "a clip and notes")
		do(t, ta, "open timeline", chromedp.Navigate(a.url), chromedp.WaitVisible(chromedp.CSS("#compose")))
		card := `[...document.querySelectorAll("#posts article.post")].find(a => a.querySelector(".text").textContent === "a clip and notes")`
		if got := eval[string](t, ta, card+`?.querySelector(".audience")?.textContent || ""`); got != "to group family" {
			t.Fatalf("the post's audience shows as %q, want \"to group family\"", got)
		}
		if !eval[bool](t, ta, `!!`+card+`?.querySelector("audio[controls]")`) {
			t.Fatal("the .wav attachment has no audio player")
		}
		if eval[bool](t, ta, `!!`+card+`?.querySelector(".photos")`) {
			t.Fatal("a post with no image shows a photo")
		}
		if got := eval[string](t, ta, card+`?.querySelector(".files")?.textContent || ""`); !strings.Contains(got, "notes.txt") {
			t.Fatalf("the text file is listed as %q, want a file link named notes.txt", got)
		}
		// The file keeps its extension: the blob index kept ".txt", so it saves as text.
		disp := evalAwait[string](t, ta, `fetch(`+card+`.querySelector(".files a").href).then(r => r.headers.get("content-disposition"))`)
		if !regexp.MustCompile(`^attachment; filename="[0-9a-f]{12}\.txt"$`).MatchString(disp) {
			t.Fatalf("the text file downloads with Content-Disposition %q, want attachment; filename=\"HASH.txt\"", disp)
		}
		ct := evalAwait[string](t, ta, card+`.querySelector("audio").src && fetch(`+card+`.querySelector("audio").src).then(r => r.headers.get("content-type"))`)
		if !strings.HasPrefix(ct, "audio/") {
			t.Fatalf("the audio is served as %q, want audio/*", ct)
		}
		if got := eval[string](t, ta, `[...document.querySelectorAll("#posts article.post")].find(a => a.querySelector(".text").textContent.startsWith("Beach day"))?.querySelector(".audience")?.textContent || ""`); got != "to group family" {
			// The composer's "friends" box starts ticked; the first subtest's click unticked it.
			t.Fatalf("the photo post's audience shows as %q, want \"to group family\"", got)
		}
	})
	t.Logf("web app tests took %v", time.Since(start).Round(time.Millisecond))
}

func decode64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decode the download: %v", err)
	}
	return string(b)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "<", `\x3c`)
	return `"` + r.Replace(s) + `"`
}
