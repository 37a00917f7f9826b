package public_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
	"github.com/kithnet/kith/shared/identity"
)

var hrefRE = regexp.MustCompile(`(?:href|src)="([^"]+)"|<loc>([^<]+)</loc>|"(?:url|next_url)": "([^"]+)"`)

// TestAudienceMatrix crawls every link the node offers, from / and the feeds and the
// sitemap, and asks directly for each non-public post and blob: nothing that is not public
// shows, anywhere.
func TestAudienceMatrix(t *testing.T) {
	f := newFixture(t, public.Config{})
	seen := map[string]bool{}
	queue := []string{"/", "/feed.atom", "/feed.json", "/sitemap.xml", "/robots.txt",
		"/tags/kith", "/tags/go", "/feed.atom?after=" + publictest.ID(f.pubShared)}
	for len(queue) > 0 {
		target := queue[0]
		queue = queue[1:]
		if seen[target] {
			continue
		}
		seen[target] = true
		a := do(t, f.h, http.MethodGet, target)
		if a.Status != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200 for every linked URL", target, a.Status)
		}
		f.noSecrets(t, "GET "+target, a)
		for _, m := range hrefRE.FindAllStringSubmatch(strings.ReplaceAll(a.Body, "&amp;", "&"), -1) {
			u := m[1] + m[2] + m[3]
			if rest, ok := strings.CutPrefix(u, "https://alice.example"); ok {
				u = rest
			}
			if strings.HasPrefix(u, "/") && !seen[u] {
				queue = append(queue, u)
			}
		}
	}
	for _, want := range []string{"/p/" + publictest.ID(f.pubA), "/p/" + publictest.ID(f.pubB) + ".json", "/blob/" + hex.EncodeToString(f.blobPub[:]),
		"/blob/" + hex.EncodeToString(f.blobShared[:]), "/tags/intro", "/?after=" + publictest.ID(f.pubB)} {
		if !seen[want] {
			t.Errorf("the crawl never reached %s; reached %v", want, keys(seen))
		}
	}

	unknown := make([]byte, 16)
	rand.Read(unknown)
	notFound := do(t, f.h, http.MethodGet, "/p/"+hex.EncodeToString(unknown))
	for _, tc := range []struct {
		target string
		want   int
	}{
		{"/p/" + publictest.ID(f.priv), http.StatusNotFound},
		{"/p/" + publictest.ID(f.priv) + ".json", http.StatusNotFound},
		{"/p/" + publictest.ID(f.privEdited), http.StatusNotFound},
		{"/p/" + publictest.ID(f.deleted), http.StatusGone},
		{"/p/" + publictest.ID(f.deleted) + ".json", http.StatusGone},
		{"/p/" + publictest.ID(f.madePrivate), http.StatusGone},
		{"/p/" + publictest.ID(f.madePrivate) + ".json", http.StatusGone},
		{"/blob/" + hex.EncodeToString(f.blobPriv[:]), http.StatusNotFound},
		{"/blob/" + hex.EncodeToString(f.blobGone[:]), http.StatusNotFound},
	} {
		a := f.get(t, tc.target, tc.want)
		f.noSecrets(t, "GET "+tc.target, a)
		if tc.want == http.StatusNotFound && a.Body != notFound.Body {
			t.Errorf("GET %s answers %q, an unknown id %q: a private post must look unknown", tc.target, a.Body, notFound.Body)
		}
	}
	// Tag pages of tags only non-public posts carry are empty (the tag itself is echoed).
	for _, tag := range []string{"secrettag", "gonetag"} {
		if a := f.get(t, "/tags/"+tag, http.StatusOK); strings.Contains(a.Body, "h-entry") {
			t.Errorf("/tags/%s lists a post", tag)
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// faultySource returns what it must not: every post's newest version, public or not,
// in lists and by id.
type faultySource struct {
	*publictest.Memory
	posts map[public.PostID]public.Post
}

func (s faultySource) PublicPosts(ctx context.Context, q public.Query) (public.Page, error) {
	return public.Page{Posts: slices.Collect(maps.Values(s.posts))}, nil
}

func (s faultySource) PublicPost(ctx context.Context, id public.PostID) (public.Post, error) {
	if p, ok := s.posts[id]; ok {
		return p, nil
	}
	return public.Post{}, public.ErrNotFound
}

// TestFaultySourceFailsClosed: the handler checks each post itself, so a Source that
// breaks the contract still shows nothing private.
func TestFaultySourceFailsClosed(t *testing.T) {
	f := newFixture(t, public.Config{})
	friend, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fp := publictest.NewPayload("FRIEND-TEXT a friend's public post #kith", publictest.Public, t0+500)
	post, err := public.OpenPost(publictest.Sign(friend, fp))
	if err != nil {
		t.Fatal(err)
	}
	f.latest[public.PostID(fp.GetId())] = post
	f.secrets = append(f.secrets, publictest.ID(fp), "FRIEND-TEXT", string(friend.ID()))
	h, err := public.NewHandler(public.Config{Source: faultySource{f.src, f.latest}, BaseURL: "https://alice.example", RatePerSecond: -1, PageSize: 100,
		Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	for _, target := range []string{"/", "/feed.atom", "/feed.json", "/sitemap.xml", "/tags/kith"} {
		a := f.get(t, target, http.StatusOK)
		f.noSecrets(t, "faulty source: GET "+target, a)
		if !strings.Contains(a.Body, publictest.ID(f.pubA)) {
			t.Errorf("faulty source: GET %s lost the public post", target)
		}
	}
	for _, p := range []string{publictest.ID(f.priv), publictest.ID(f.deleted), publictest.ID(f.madePrivate), publictest.ID(fp)} {
		f.noSecrets(t, "faulty source: GET /p/ID", f.get(t, "/p/"+p, http.StatusNotFound))
		f.noSecrets(t, "faulty source: GET /p/ID.json", f.get(t, "/p/"+p+".json", http.StatusNotFound))
	}
}
