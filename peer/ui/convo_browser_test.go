package ui_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWebAppConversation drives replies, reactions, the live unread count and friend
// requests in headless Chromium against real daemons: Bea replies and reacts in place
// under Ann's post; Ann's page shows the reply and the count without a reload; reading
// clears it; Dee's friend request is accepted from the notifications page; a reply's
// photo shows on the post's thread page.
func TestWebAppConversation(t *testing.T) {
	bctx := browser(t)
	a, b, d := startNode(t, "Ann"), startNode(t, "Bea"), startNode(t, "Dee")
	a.kith(t, "friend", "add", b.id, "--name", "Bea", "--addr", b.listen)
	b.kith(t, "friend", "add", a.id, "--name", "Ann", "--addr", a.listen)
	pid := a.kith(t, "post", "for my friends")
	b.kith(t, "sync")

	ta, tb := tab(t, bctx), tab(t, bctx)
	login(t, ta, a)
	login(t, tb, b)
	until(t, ta, 10*time.Second, "Ann's live stream and a zero count", `document.body.dataset.live === "1" && document.getElementById("unread").dataset.count === "0"`)
	eval[bool](t, ta, `window.noReload = true`)
	eval[bool](t, tb, `window.noReload = true`)

	card := `#post-` + pid
	until(t, tb, 10*time.Second, "Ann's post on Bea's page", `!!document.querySelector("`+card+`")`)
	do(t, tb, "Bea reacts", chromedp.Click(chromedp.CSS(card+` form.react button[value="👍"]`)))
	until(t, tb, 10*time.Second, "Bea's reaction in place", `(document.querySelector("`+card+` .reactions")?.textContent || "").includes("👍 1")`)
	do(t, tb, "Bea replies",
		chromedp.SendKeys(chromedp.CSS(card+` form.reply-form textarea`), "lovely <b>news</b>"),
		chromedp.Click(chromedp.CSS(card+` form.reply-form button`)))
	until(t, tb, 10*time.Second, "Bea's reply in place", `(document.querySelector("`+card+` .replies")?.textContent || "").includes("lovely <b>news</b>")`)
	if !eval[bool](t, tb, `window.noReload === true && !document.querySelector("`+card+` .replies b")`) {
		t.Fatal("Bea's page reloaded, or the reply's markup became HTML")
	}

	// Ann's page: the reply and the reaction arrive live, and the count says 2.
	until(t, ta, 15*time.Second, "the reply on Ann's page", `(document.querySelector("`+card+` .replies")?.textContent || "").includes("lovely")`)
	until(t, ta, 15*time.Second, "Ann's unread count", `document.getElementById("unread").dataset.count === "2"`)
	if !eval[bool](t, ta, `window.noReload === true`) {
		t.Fatal("Ann's page reloaded")
	}
	do(t, ta, "open notifications", chromedp.Navigate(a.url+"notifications"), chromedp.WaitVisible(chromedp.CSS("ul.notes")))
	if got := eval[string](t, ta, `document.querySelector("ul.notes").textContent`); !strings.Contains(got, "replied to your post") || !strings.Contains(got, "reacted to your post") {
		t.Fatalf("notifications page: %q", got)
	}
	do(t, ta, "mark all read", chromedp.Click(chromedp.CSS(`form[action="/notifications/read"] button`)), chromedp.WaitVisible(chromedp.CSS("ul.notes")))
	until(t, ta, 10*time.Second, "count cleared", `document.getElementById("unread").dataset.count === "0"`)
	eval[bool](t, ta, `window.noReload = true`)

	// Dee adds Ann: the request reaches Ann's count live, and she accepts it in the page.
	d.kith(t, "friend", "add", a.id, "--addr", a.listen)
	d.kith(t, "sync")
	until(t, ta, 20*time.Second, "the friend request counted", `document.getElementById("unread").dataset.count === "1"`)
	do(t, ta, "reload notifications", chromedp.Navigate(a.url+"notifications"), chromedp.WaitVisible(chromedp.CSS("#request-"+d.id)))
	do(t, ta, "accept Dee", chromedp.Click(chromedp.CSS("#request-"+d.id+` form[action$="/accept"] button`)), chromedp.WaitVisible(chromedp.CSS("ul.notes")))
	// The click navigates; the old page (with ul.notes too) may still be the one read.
	until(t, ta, 10*time.Second, "the accepted request no longer listed", `!document.querySelector("#request-`+d.id+`")`)
	if out := a.kith(t, "friend", "ls"); !strings.Contains(out, d.id) || !strings.Contains(out, "Dee") {
		t.Fatalf("after accepting, Ann's friends: %s", out)
	}

	// A mention links to the person: on Ann's page by Bea's name, on Bea's as "you".
	mid := a.kith(t, "post", "--to", "Bea", "coffee with @Bea?")
	b.kith(t, "sync")
	mention := `#post-` + mid + ` .mentions a.mention`
	do(t, ta, "Ann's timeline", chromedp.Navigate(a.url), chromedp.WaitVisible(chromedp.CSS("#compose")))
	if got := eval[string](t, ta, `(a => a ? a.textContent + " " + a.getAttribute("href") : "")(document.querySelector("`+mention+`"))`); got != "@Bea /?from="+b.id {
		t.Fatalf("Ann's mention of Bea shows as %q, want a link to Bea", got)
	}
	do(t, tb, "Bea's timeline", chromedp.Navigate(b.url), chromedp.WaitVisible(chromedp.CSS("#compose")))
	until(t, tb, 10*time.Second, "Bea's mention", `(document.querySelector("`+mention+`")?.textContent || "") === "@you"`)
	do(t, tb, "Bea's notifications", chromedp.Navigate(b.url+"notifications"), chromedp.WaitVisible(chromedp.CSS("ul.notes")))
	if got := eval[string](t, tb, `document.querySelector("ul.notes").textContent`); !strings.Contains(got, "mentioned you") || !strings.Contains(got, "coffee with") {
		t.Fatalf("Bea's notifications: %q, want the mention", got)
	}

	// A reply with a photo: Ann's thread page of the post shows it, loaded from her node.
	photo := writePhoto(t, t.TempDir(), "sea.png", 64, 48)
	b.kith(t, "reply", pid, "--file", photo, "the sea")
	do(t, ta, "Ann's thread page", chromedp.Navigate(a.url+"post/"+pid), chromedp.WaitVisible(chromedp.CSS("#thread")))
	until(t, ta, 10*time.Second, "the reply's photo, loaded", `(i => !!i && i.complete && i.naturalWidth > 0)(document.querySelector("`+card+` .replies .photos img"))`)
}
