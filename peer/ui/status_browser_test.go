package ui_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWebAppUnreachableRendezvous: with a rendezvous that does not answer, the
// connections page names the server and the error (issue 15), as `kith status` does,
// instead of a bare "not registered".
func TestWebAppUnreachableRendezvous(t *testing.T) {
	bctx := browser(t)
	dead := freeTCP(t)
	n := newHome(t, "Ann")
	n.startWith(t, "--rendezvous", dead)
	ctx := tab(t, bctx)
	login(t, ctx, n)
	want := regexp.MustCompile(`rendezvous: rendezvous \(` + regexp.QuoteMeta(dead) + `\) unreachable \(retrying\): \S.*`)
	deadline := time.Now().Add(40 * time.Second)
	for {
		do(t, ctx, "connections page", chromedp.Navigate(n.url+"connections"), chromedp.WaitVisible(chromedp.CSS("main")))
		got := eval[string](t, ctx, `document.querySelector("main p").textContent.replace(/\s+/g, " ")`)
		if want.MatchString(got) {
			if !eval[bool](t, ctx, `!!document.querySelector("main p .error")`) {
				t.Fatalf("the error is not marked as one: %q", got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the connections page says %q, want it to match %s", got, want)
		}
		time.Sleep(time.Second)
	}
}
