package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/kithnet/kith/peer/crawl"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
	"github.com/kithnet/kith/shared/identity"
)

func runCrawl(ctx context.Context, c *call) error {
	fs := newFlags("crawl")
	seedFlag := fs.String("seed", "", "")
	indexPath := fs.String("index", "", "")
	maxPeers := fs.Int("max-peers", 100, "")
	maxPosts := fs.Int("max-posts", 100000, "")
	rate := fs.Float64("rate", 20, "")
	rdv := fs.String("rendezvous", "none", "")
	listen := fs.String("listen", "", "")
	if _, err := parse(fs, c.args, 0, 0); err != nil {
		return err
	}
	switch {
	case *seedFlag == "":
		return usagef("--seed is required")
	case *indexPath == "":
		return usagef("--index is required")
	case *maxPeers < 1 || *maxPosts < 1:
		return usagef("--max-peers and --max-posts must be at least 1")
	case *rate <= 0:
		return usagef("--rate must be above 0 requests per second")
	}
	seeds, err := crawl.ParseSeeds(*seedFlag)
	if err != nil {
		return usageError{err.Error()}
	}
	servers, err := rendezvousList(*rdv)
	if err != nil {
		return err
	}
	ix, err := crawl.OpenIndex(*indexPath)
	if err != nil {
		return err
	}
	defer ix.Close()
	key, err := ix.Key()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(c.env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var dialer crawl.Dialer
	if len(servers) > 0 {
		if c.env.Stranger == nil {
			return errors.New("crawling through a rendezvous is not available in this build")
		}
		st, err := c.env.Stranger(key, servers, *listen, log)
		if err != nil {
			return err
		}
		defer st.Close()
		dialer = st
	} else {
		d, err := crawl.NewDirect(key, *listen, log)
		if err != nil {
			return err
		}
		defer d.Close()
		dialer = d
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cr := crawl.New(crawl.Config{Index: ix, Dialer: dialer, MaxPeers: *maxPeers, MaxPosts: *maxPosts,
		PeerInterval: time.Duration(float64(time.Second) / *rate), Logger: log})
	sum, err := cr.Run(ctx, seeds)
	fmt.Fprintf(c.env.Stdout, "crawled %d peers: %d posts indexed, %d removed, %d peers failed\n",
		sum.Visited, sum.Indexed, sum.Removed, len(sum.Failed))
	for _, f := range sum.Failed {
		fmt.Fprintf(c.env.Stdout, "  failed %v\n", f)
	}
	if sum.Budget {
		fmt.Fprintln(c.env.Stdout, "stopped at the budget (--max-peers/--max-posts); run again to go on")
	}
	if err == nil && len(sum.Failed) > 0 {
		err = fmt.Errorf("%d of %d peers failed (see above); what verified is indexed", len(sum.Failed), len(sum.Failed)+sum.Visited)
	}
	return err
}

func runSearch(ctx context.Context, c *call) error {
	fs := newFlags("search")
	indexPath := fs.String("index", "", "")
	asJSON := fs.Bool("json", false, "")
	limit := fs.Int("limit", 100, "")
	pos, err := parse(fs, c.args, 1, -1)
	if err != nil {
		return err
	}
	if *indexPath == "" {
		return usagef("--index is required")
	}
	words, err := c.fromNames(ctx, strings.Fields(strings.Join(pos, " ")))
	if err != nil {
		return err
	}
	q, err := crawl.ParseQuery(strings.Join(words, " "))
	if err != nil {
		return usageError{err.Error()}
	}
	if _, err := os.Stat(*indexPath); err != nil {
		return fmt.Errorf("index %s: %w (make one with 'kith crawl')", *indexPath, err)
	}
	ix, err := crawl.OpenIndex(*indexPath)
	if err != nil {
		return err
	}
	defer ix.Close()
	rs, err := ix.Search(q, max(*limit, 0))
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(c.env.Stdout, resultsJSON(rs))
	}
	for _, r := range rs {
		mark := "✓ verified"
		if !r.Verified {
			mark = "✗ NOT VERIFIED"
		}
		fmt.Fprintf(c.env.Stdout, "%s  %s  %s  %s\n  %s\n", r.Created.UTC().Format(time.RFC3339), r.Author.ID(), mark, r.ID, indent(r.Text))
	}
	if len(rs) == 0 {
		fmt.Fprintln(c.env.Stderr, "no posts found")
	}
	return nil
}

// fromNames turns from:NAME into from:ID with the names the daemon knows (friends', and
// the person's own); a from: that is an ID stays as it is.
func (c *call) fromNames(ctx context.Context, words []string) ([]string, error) {
	out := slices.Clone(words)
	for i, w := range words {
		if len(w) < 5 || !strings.EqualFold(w[:5], "from:") {
			continue
		}
		who := w[5:]
		if _, err := identity.ParseID(who); err == nil || looksLikeID(who) || who == "" {
			continue // ParseQuery parses it, or says what is wrong with it
		}
		cl, done, err := c.dial(ctx)
		if err != nil {
			return nil, fmt.Errorf("from:%s is a name, and names come from your daemon: %w (or search from:ID)", who, err)
		}
		friends, err := cl.ListFriends(ctx, &localv1.ListFriendsRequest{})
		var st *localv1.StatusResponse
		if err == nil {
			st, err = cl.Status(ctx, &localv1.StatusRequest{})
		}
		var id string
		if err == nil {
			id, err = resolveAuthor(friends.GetFriends(), st, who)
		}
		done()
		if err != nil {
			return nil, rpcError(c.home, err)
		}
		out[i] = "from:" + id
	}
	return out, nil
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n  ") }

// resultJSON is one element of `kith search --json`.
type resultJSON struct {
	ID       string   `json:"id"`
	Author   string   `json:"author"`
	Text     string   `json:"text"`
	Tags     []string `json:"tags"`
	Created  string   `json:"created"`
	Updated  string   `json:"updated"`
	Verified bool     `json:"verified"`
}

func resultsJSON(rs []crawl.Result) []resultJSON {
	out := make([]resultJSON, 0, len(rs))
	for _, r := range rs {
		out = append(out, resultJSON{ID: r.ID.String(), Author: string(r.Author.ID()), Text: r.Text,
			Tags: append([]string{}, r.Tags...), Created: r.Created.UTC().Format(time.RFC3339Nano),
			Updated: r.Updated.UTC().Format(time.RFC3339Nano), Verified: r.Verified})
	}
	return out
}
