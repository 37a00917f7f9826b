package public

import (
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// maxSitemapURLs is the sitemaps.org limit of one file; a node past it lists its newest.
const maxSitemapURLs = 50000

type urlSet struct {
	XMLName xml.Name     `xml:"http://www.sitemaps.org/schemas/sitemap/0.9 urlset"`
	URLs    []sitemapURL `xml:"url"`
}

type sitemapURL struct {
	Loc     string `xml:"loc"`
	LastMod string `xml:"lastmod,omitempty"`
}

// serveSitemap is /sitemap.xml: the profile page, every public post and every tag page.
func (s *server) serveSitemap(w http.ResponseWriter, r *http.Request) {
	if s.cfg.BaseURL == "" {
		// A sitemap lists absolute URLs, and the request's Host is not ours to trust.
		refuse(w, http.StatusNotFound, "no sitemap: this peer has no public URL (kith daemon --public-url)")
		return
	}
	prof, posts, modified, err := s.allPublic(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	base := s.base(r)
	key := newCacheKey("sitemap").add(base, string(prof.ID.ID())).time(modified)
	for _, p := range posts {
		key.add(string(p.Envelope.GetSignature()))
	}
	rd, err := s.cached(key.sum(), func() ([]byte, error) { return sitemapBody(base, modified, posts) })
	if err != nil {
		s.fail(w, r, fmt.Errorf("encode sitemap: %w", err))
		return
	}
	serveRendered(w, r, "application/xml; charset=utf-8", modified, rd)
}

// allPublic reads every public post, up to what one sitemap may list, and the newest
// change among them and the profile.
func (s *server) allPublic(r *http.Request) (Profile, []Post, time.Time, error) {
	ctx, cancel := s.sourceCtx(r)
	defer cancel()
	prof, err := s.cfg.Source.Profile(ctx)
	if err != nil {
		return prof, nil, time.Time{}, err
	}
	var posts []Post
	modified := prof.Updated
	q := Query{Limit: MaxPageSize}
	for len(posts) < maxSitemapURLs {
		page, err := s.cfg.Source.PublicPosts(ctx, q)
		if err != nil {
			return prof, nil, modified, err
		}
		modified = maxTime(modified, page.Modified)
		posts = append(posts, s.keepPublic(page.Posts, prof.ID, "")...)
		if page.Next == "" || page.Next == q.After {
			break
		}
		q.After = page.Next
	}
	return prof, posts, modified, nil
}

// sitemapBody renders the sitemap; serveSitemap's cache key names every argument.
func sitemapBody(base string, modified time.Time, posts []Post) ([]byte, error) {
	set := urlSet{URLs: []sitemapURL{{Loc: base + "/", LastMod: atomTime(modified)}}}
	tags := map[string]time.Time{}
	for _, p := range posts {
		updated := time.UnixMilli(p.Payload.GetUpdatedUnixMs())
		set.URLs = append(set.URLs, sitemapURL{Loc: base + "/p/" + hex.EncodeToString(p.Payload.GetId()), LastMod: atomTime(updated)})
		for _, t := range p.Payload.GetHashtags() {
			tags[t] = maxTime(tags[t], updated)
		}
	}
	for _, t := range slices.Sorted(maps.Keys(tags)) {
		set.URLs = append(set.URLs, sitemapURL{Loc: base + "/tags/" + url.PathEscape(t), LastMod: atomTime(tags[t])})
	}
	set.URLs = set.URLs[:min(len(set.URLs), maxSitemapURLs)]
	body, err := xml.MarshalIndent(set, "", " ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(body, '\n')...), nil
}

// serveRobots is /robots.txt: crawling is allowed; with NoIndex the pages say noindex
// themselves (a Disallow would hide that from the crawler) and no sitemap is offered.
func (s *server) serveRobots(w http.ResponseWriter, r *http.Request) {
	body := "# The public posts of a kith peer. Crawling is welcome; please keep it polite.\nUser-agent: *\nAllow: /\n" +
		robotsNote(s.cfg.NoIndex, s.base(r))
	serveBody(w, r, "text/plain; charset=utf-8", time.Time{}, []byte(body))
}

// robotsNote ends robots.txt: why there is no sitemap, or where it is. An if per rule,
// not a switch: gremlins counts a case's condition as not covered.
func robotsNote(noIndex bool, base string) string {
	if noIndex {
		return "# This person asks search engines not to index these pages: every answer carries\n# X-Robots-Tag: noindex and every page a robots noindex meta tag.\n"
	}
	if base == "" {
		return "# No sitemap: this peer has no public URL set.\n"
	}
	return "\nSitemap: " + base + "/sitemap.xml\n"
}
