package public

import (
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
	ctx, cancel := s.sourceCtx(r)
	defer cancel()
	prof, err := s.cfg.Source.Profile(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	base := s.base(r)
	var posts []sitemapURL
	tags := map[string]time.Time{}
	modified := prof.Updated
	q := Query{Limit: MaxPageSize}
	for len(posts) < maxSitemapURLs {
		page, err := s.cfg.Source.PublicPosts(ctx, q)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		modified = maxTime(modified, page.Modified)
		for _, p := range newPostViews(s.keepPublic(page.Posts, prof.ID, ""), base) {
			posts = append(posts, sitemapURL{Loc: p.URL, LastMod: atomTime(p.Updated)})
			for _, t := range p.Tags {
				tags[t] = maxTime(tags[t], p.Updated)
			}
		}
		if page.Next == "" || page.Next == q.After {
			break
		}
		q.After = page.Next
	}
	set := urlSet{URLs: []sitemapURL{{Loc: base + "/", LastMod: atomTime(maxTime(modified, prof.Updated))}}}
	set.URLs = append(set.URLs, posts...)
	for _, t := range slices.Sorted(maps.Keys(tags)) {
		if len(set.URLs) >= maxSitemapURLs {
			break
		}
		set.URLs = append(set.URLs, sitemapURL{Loc: base + "/tags/" + url.PathEscape(t), LastMod: atomTime(tags[t])})
	}
	set.URLs = set.URLs[:min(len(set.URLs), maxSitemapURLs)]
	body, err := xml.MarshalIndent(set, "", " ")
	if err != nil {
		s.fail(w, r, fmt.Errorf("encode sitemap: %w", err))
		return
	}
	serveBody(w, r, "application/xml; charset=utf-8", modified, append([]byte(xml.Header), append(body, '\n')...))
}

// serveRobots is /robots.txt: crawling is allowed; with NoIndex the pages say noindex
// themselves (a Disallow would hide that from the crawler) and no sitemap is offered.
func (s *server) serveRobots(w http.ResponseWriter, r *http.Request) {
	body := "# The public posts of a kith peer. Crawling is welcome; please keep it polite.\nUser-agent: *\nAllow: /\n"
	if s.cfg.NoIndex {
		body += "# This person asks search engines not to index these pages: every answer carries\n# X-Robots-Tag: noindex and every page a robots noindex meta tag.\n"
	} else {
		body += "\nSitemap: " + s.base(r) + "/sitemap.xml\n"
	}
	serveBody(w, r, "text/plain; charset=utf-8", time.Time{}, []byte(body))
}
