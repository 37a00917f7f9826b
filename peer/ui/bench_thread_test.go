package ui_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/ui"
	"github.com/kithnet/kith/shared/identity"
)

// BenchmarkThread10k measures a conversation of 10,000 replies (issue 18) beside a
// timeline of 10,000 posts, in the same run: `kith thread POST_ID` against `kith
// timeline` (the CLI process, start to exit, median of three: every reply against
// every post), and the web app's first render in Chromium (first contentful paint and
// load, cold cache) of the thread's page (/post/ID: the post and its newest
// ui.ThreadPageSize replies) against the timeline's (its newest ui.PageSize posts).
// Each figure is printed with its ratio to the timeline's.
func BenchmarkThread10k(b *testing.B) {
	bctx := browser(b)
	tl := newHome(b, "Tim")
	seedTimeline(b, tl.home, 10_000, 1)
	th := newHome(b, "Thea")
	pid := seedThread(b, th.home, 10_000)
	tl.start(b)
	th.start(b)
	tlTab, thTab := tab(b, bctx), tab(b, bctx)
	loginB(b, tlTab, tl)
	loginB(b, thTab, th)

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cliThread := cliTime(b, th, "thread", pid)
		cliTimeline := cliTime(b, tl, "timeline")
		app := measure(b, thTab, th.url+"post/"+pid)
		if n := countIn(b, thTab, `document.querySelectorAll("#post-`+pid+` .replies li.reply").length`); n != ui.ThreadPageSize {
			b.Fatalf("the thread's first page shows %d replies, want %d", n, ui.ThreadPageSize)
		}
		base := measure(b, tlTab, tl.url)
		if n := countIn(b, tlTab, `document.querySelectorAll("article.post").length`); n != ui.PageSize {
			b.Fatalf("the timeline's first page shows %d posts, want %d", n, ui.PageSize)
		}
		b.ReportMetric(float64(cliThread.Milliseconds()), "ms-kith-thread")
		b.ReportMetric(app.fcp, "ms-thread-first-paint")
		fmt.Printf("a thread of 10000 replies beside a timeline of 10000 posts (same run):\n"+
			"  kith thread:   %6.0f ms   kith timeline: %6.0f ms   ratio %.2f\n"+
			"  web app, thread page (first %d replies):  first paint %6.0f ms  load %6.0f ms  %9.0f bytes\n"+
			"  web app, timeline page (first %d posts):  first paint %6.0f ms  load %6.0f ms  %9.0f bytes\n"+
			"  ratio thread/timeline:  first paint %.2f  load %.2f  bytes %.2f\n",
			ms(cliThread), ms(cliTimeline), ms(cliThread)/ms(cliTimeline),
			ui.ThreadPageSize, app.fcp, app.load, app.bytes, ui.PageSize, base.fcp, base.load, base.bytes,
			app.fcp/base.fcp, app.load/base.load, app.bytes/base.bytes)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cliTime runs `kith ARGS` against n's daemon three times and returns the median time.
func cliTime(b *testing.B, n *node, args ...string) time.Duration {
	b.Helper()
	var ds []time.Duration
	for range 3 {
		start := time.Now()
		cmd := exec.Command(kithBin(b), append([]string{"--home", n.home}, args...)...)
		if out, err := cmd.Output(); err != nil || len(out) == 0 {
			b.Fatalf("kith %s: %v (%d bytes)", strings.Join(args, " "), err, len(out))
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[1]
}

// countIn evaluates a number in a tab.
func countIn(b *testing.B, ctx context.Context, expr string) int {
	b.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// loginB logs a benchmark's tab in to n's web app (which lands on the timeline: the
// big page itself), within 5 minutes, so a machine too loaded to render it fails the
// benchmark rather than hanging it.
func loginB(b *testing.B, tab context.Context, n *node) {
	b.Helper()
	ctx, cancel := context.WithTimeout(tab, 5*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(n.loginURL(b)), chromedp.WaitVisible(chromedp.CSS("#compose"))); err != nil {
		b.Fatalf("log in to %s's web app: %v", n.name, err)
	}
}

// seedThread publishes one own post in a stopped home and hosts n replies to it from
// friends (1,000 each, the per-person bound), reply i written i ms after reply 0, and
// returns the post's id.
func seedThread(b testing.TB, home string, n int) string {
	b.Helper()
	st, err := store.Open(store.Config{Home: home, NoSync: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	me, err := st.Key()
	if err != nil {
		b.Fatal(err)
	}
	pid, err := st.Publish(store.NewPost{Text: "a busy post #bench"})
	if err != nil {
		b.Fatal(err)
	}
	var friend *identity.Key
	start := time.Now().Add(-time.Duration(n) * time.Millisecond)
	for i := range n {
		if i%store.MaxRepliesPerPerson == 0 {
			if friend, err = identity.Generate(rand.Reader); err != nil {
				b.Fatal(err)
			}
			if err := st.PutFriend(store.Friend{Key: friend.Public(), Name: fmt.Sprintf("Friend %d", i/store.MaxRepliesPerPerson)}); err != nil {
				b.Fatal(err)
			}
		}
		env, r, err := post.SealReply(friend, post.ReplyDraft{Now: start.Add(time.Duration(i) * time.Millisecond), PostAuthor: me.Public(), PostID: pid,
			Text: fmt.Sprintf("reply %d: %s", i, strings.Repeat("a few words ", 4))})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.HostReply(friend.Public(), env, r); err != nil {
			b.Fatalf("reply %d: %v", i, err)
		}
	}
	return pid.String()
}
