package ui_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kithnet/kith/peer/ui"
)

// session is a browser without script: an HTTP client logged in to n's web app.
func session(t *testing.T, n *node) *http.Client {
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
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" {
		t.Fatalf("log in: %d at %s, want 200 at /", resp.StatusCode, resp.Request.URL)
	}
	return c
}

// page GETs path from n's web app and returns the status and the body.
func page(t *testing.T, c *http.Client, n *node, path string) (int, string) {
	t.Helper()
	resp, err := c.Get(strings.TrimSuffix(n.url, "/") + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

var (
	postIDs   = regexp.MustCompile(`<article class="post" id="post-([0-9a-f]{32})"`)
	olderLink = regexp.MustCompile(`<a class="older" rel="(?:next|prev)" href="([^"]+)"`)
	replyNums = regexp.MustCompile(`<p class="text">reply (\d+):`)
)

// older returns the page's "older" link, unescaped, or "".
func older(body string) string {
	m := olderLink.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return strings.ReplaceAll(m[1], "&amp;", "&")
}

// TestWebAppPaging: a real daemon's web app shows a long timeline and a long thread a
// page at a time, with plain "older" links (no script) that lead through every post and
// every reply exactly once, in order; a card on the timeline shows the newest replies
// and links to its thread; a forged cursor is refused with 400, an unknown post is 404.
func TestWebAppPaging(t *testing.T) {
	n := newHome(t, "Pia")
	nPosts := 2*ui.PageSize + 7
	seedTimeline(t, n.home, nPosts, 1)
	nReplies := 2*ui.ThreadPageSize + 5
	pid := seedThread(t, n.home, nReplies)
	n.start(t)
	c := session(t, n)

	// The timeline: pages of PageSize, then the rest; every post once.
	seen := map[string]bool{}
	var sizes []int
	for path := "/"; path != ""; {
		code, body := page(t, c, n, path)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, code)
		}
		ids := postIDs.FindAllStringSubmatch(body, -1)
		sizes = append(sizes, len(ids))
		for _, m := range ids {
			if seen[m[1]] {
				t.Errorf("post %s shown on two pages", m[1])
			}
			seen[m[1]] = true
		}
		if len(sizes) == 1 {
			// The busy post is the newest: its card shows the newest replies and links on.
			if got := len(replyNums.FindAllString(body, -1)); got != ui.CardReplies {
				t.Errorf("the busy post's card shows %d replies, want %d", got, ui.CardReplies)
			}
			if want := `<a href="/post/` + pid + `">All ` + strconv.Itoa(nReplies) + ` replies</a>`; !strings.Contains(body, want) {
				t.Errorf("the busy post's card has no link %s", want)
			}
		}
		path = older(body)
		if len(sizes) > 10 {
			t.Fatal("the older links go round in circles")
		}
	}
	if want := []int{ui.PageSize, ui.PageSize, 8}; len(seen) != nPosts+1 || !equal(sizes, want) {
		t.Errorf("timeline pages of %v posts, %d in all; want %v, %d", sizes, len(seen), want, nPosts+1)
	}

	// The thread: the newest ThreadPageSize replies first, each page oldest first, older
	// pages before them; every reply once.
	var nums []int
	sizes = nil
	for path := "/post/" + pid; path != ""; {
		code, body := page(t, c, n, path)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, code)
		}
		var pg []int
		for _, m := range replyNums.FindAllStringSubmatch(body, -1) {
			k, _ := strconv.Atoi(m[1])
			pg = append(pg, k)
		}
		sizes = append(sizes, len(pg))
		nums = append(pg, nums...)
		if !strings.Contains(body, `name="back" value="thread"`) {
			t.Errorf("%s: the thread page's forms do not come back to it", path)
		}
		path = older(body)
		if len(sizes) > 10 {
			t.Fatal("the older links go round in circles")
		}
	}
	if want := []int{ui.ThreadPageSize, ui.ThreadPageSize, 5}; !equal(sizes, want) {
		t.Errorf("thread pages of %v replies; want %v", sizes, want)
	}
	for i, k := range nums {
		if k != i {
			t.Fatalf("the thread's pages, oldest first, give reply %d at place %d (all: %v)", k, i, nums)
		}
	}
	if len(nums) != nReplies {
		t.Errorf("the thread's pages show %d replies, want %d", len(nums), nReplies)
	}

	for _, tc := range []struct {
		path string
		want int
	}{
		{"/?before=yesterday", http.StatusBadRequest},
		{"/?before=1.00112233", http.StatusBadRequest},
		{"/post/" + pid + "?before=x.y", http.StatusBadRequest},
		{"/post/00112233445566778899aabbccddeeff", http.StatusNotFound},
		{"/posts?before=nonsense", http.StatusBadRequest},
	} {
		if code, _ := page(t, c, n, tc.path); code != tc.want {
			t.Errorf("GET %s: %d, want %d", tc.path, code, tc.want)
		}
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
