package public

import (
	"encoding/xml"
	"net/http"
	"time"
)

// The Atom (RFC 4287) elements the feed uses.
type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	Thr     string      `xml:"xmlns:thr,attr,omitempty"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Author  atomPerson  `xml:"author"`
	Links   []atomLink  `xml:"link"`
	Entries []atomEntry `xml:"entry"`
}

type atomPerson struct {
	Name string `xml:"name"`
	URI  string `xml:"uri"`
}

type atomLink struct {
	Rel    string `xml:"rel,attr,omitempty"`
	Href   string `xml:"href,attr"`
	Type   string `xml:"type,attr,omitempty"`
	Length uint64 `xml:"length,attr,omitempty"`
	Title  string `xml:"title,attr,omitempty"`
}

type atomEntry struct {
	ID         string         `xml:"id"`
	Title      atomText       `xml:"title"`
	Published  string         `xml:"published"`
	Updated    string         `xml:"updated"`
	Links      []atomLink     `xml:"link"`
	Content    atomText       `xml:"content"`
	Categories []atomCategory `xml:"category"`
	Author     *atomPerson    `xml:"author,omitempty"`
	InReplyTo  *atomInReplyTo `xml:"thr:in-reply-to,omitempty"`
}

// threadNS is the Atom threading extension's namespace (RFC 4685).
const threadNS = "http://purl.org/syndication/thread/1.0"

// atomInReplyTo is RFC 4685's in-reply-to: the answered entry's id and page.
type atomInReplyTo struct {
	Ref  string `xml:"ref,attr"`
	Href string `xml:"href,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
}

type atomText struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

type atomCategory struct {
	Term   string `xml:"term,attr"`
	Scheme string `xml:"scheme,attr,omitempty"`
}

// serveAtom is /feed.atom: the newest public posts, with RFC 5005 paging (rel=next).
func (s *server) serveAtom(w http.ResponseWriter, r *http.Request) {
	prof, page, err := s.list(r, "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	base := s.base(r)
	pf := newProfileView(prof, base)
	posts := newPostViews(page.Posts, base)
	self := selfURL(base, "/feed.atom", r)
	reps, k := s.feedReplies(r, prof, page.Posts, newCacheKey("atom").add(base, self, page.Next).profile(pf).posts(posts...))
	modified := newestReply(newest(maxTime(page.Modified, prof.Updated), posts), reps)
	key := k.time(modified).sum()
	rd, err := s.cached(key, func() ([]byte, error) {
		return atomBody(pf, posts, reps, base, self, page.Next, modified)
	})
	if err != nil {
		s.log.Error("public: encode atom", "err", err)
		refuse(w, http.StatusInternalServerError, "internal error")
		return
	}
	serveRendered(w, r, "application/atom+xml; charset=utf-8", modified, rd)
}

// atomBody renders the feed; serveAtom's cache key names every argument. A post's
// public replies follow it as entries of their own, each marked as answering it with
// the Atom threading extension (RFC 4685) and authored by the replier's ID.
func atomBody(pf profileView, posts []postView, reps [][]replyView, base, self, next string, modified time.Time) ([]byte, error) {
	f := atomFeed{Thr: threadNS,
		ID: feedID(base, pf), Title: pf.Name + " on kith", Updated: atomTime(modified),
		Author: atomPerson{Name: pf.Name, URI: pf.URL},
		Links: []atomLink{
			{Rel: "self", Href: self, Type: "application/atom+xml"},
			{Rel: "alternate", Href: base + "/", Type: "text/html"},
		},
	}
	if next != "" {
		f.Links = append(f.Links, atomLink{Rel: "next", Href: base + "/feed.atom?after=" + next, Type: "application/atom+xml"})
	}
	for i, p := range posts {
		f.Entries = append(f.Entries, atomEntryOf(p, base, pf))
		for _, rp := range reps[i] {
			f.Entries = append(f.Entries, atomReplyOf(rp, p, base, pf))
		}
	}
	body, err := xml.MarshalIndent(f, "", " ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(body, '\n')...), nil
}

// feedID is the feed's Atom id: its absolute URL, or without a public URL a name that
// needs none.
func feedID(base string, pf profileView) string {
	if base == "" {
		return "urn:kith:" + pf.ID
	}
	return base + "/"
}

func atomEntryOf(p postView, base string, pf profileView) atomEntry {
	id := p.URL
	if base == "" {
		id = "urn:kith:" + pf.ID + ":" + p.ID
	}
	e := atomEntry{
		ID: id, Title: atomText{Type: "text", Body: p.Title},
		Published: atomTime(p.Published), Updated: atomTime(p.Updated),
		Links:   []atomLink{{Rel: "alternate", Href: p.URL, Type: "text/html"}},
		Content: atomText{Type: "text", Body: p.Text},
	}
	for _, a := range p.Attachments {
		e.Links = append(e.Links, atomLink{Rel: "enclosure", Href: a.URL, Type: a.MediaType, Length: a.Size, Title: a.FileName})
	}
	for _, t := range p.Tags {
		e.Categories = append(e.Categories, atomCategory{Term: t, Scheme: base + "/tags/"})
	}
	return e
}

// atomReplyOf is the entry of a public reply to post p.
func atomReplyOf(rp replyView, p postView, base string, pf profileView) atomEntry {
	post := atomEntryOf(p, base, pf)
	id := replyURL(p.URL, rp)
	if base == "" {
		id = post.ID + ":reply:" + rp.Author + ":" + rp.ID
	}
	return atomEntry{
		ID: id, Title: atomText{Type: "text", Body: "Reply to " + p.Title},
		Published: atomTime(rp.Created), Updated: atomTime(rp.Updated),
		Links:     []atomLink{{Rel: "alternate", Href: replyURL(p.URL, rp), Type: "text/html"}},
		Content:   atomText{Type: "text", Body: rp.Text},
		Author:    &atomPerson{Name: rp.Author, URI: "urn:kith:" + rp.Author},
		InReplyTo: &atomInReplyTo{Ref: post.ID, Href: p.URL, Type: "text/html"},
	}
}

func atomTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// selfURL is the URL of this very list page, its cursor included.
func selfURL(base, path string, r *http.Request) string {
	if after, _ := afterParam(r); after != "" {
		return base + path + "?after=" + after
	}
	return base + path
}
