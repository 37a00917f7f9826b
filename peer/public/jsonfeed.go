package public

import (
	"net/http"
)

// The JSON Feed 1.1 (https://jsonfeed.org/version/1.1) fields the feed uses.
type jsonFeed struct {
	Version     string         `json:"version"`
	Title       string         `json:"title"`
	HomePageURL string         `json:"home_page_url"`
	FeedURL     string         `json:"feed_url"`
	NextURL     string         `json:"next_url,omitempty"`
	Authors     []jsonAuthor   `json:"authors"`
	Items       []jsonFeedItem `json:"items"`
}

type jsonAuthor struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

type jsonFeedItem struct {
	ID            string           `json:"id"`
	URL           string           `json:"url"`
	ContentText   string           `json:"content_text"`
	DatePublished string           `json:"date_published"`
	DateModified  string           `json:"date_modified"`
	Tags          []string         `json:"tags,omitempty"`
	Attachments   []jsonAttachment `json:"attachments,omitempty"`
	Authors       []jsonAuthor     `json:"authors,omitempty"`
	Kith          *jsonKith        `json:"_kith,omitempty"`
}

// jsonKith is the feed's extension object (JSON Feed 1.1 allows keys starting with _).
type jsonKith struct {
	InReplyTo   string `json:"in_reply_to"`    // the answered post's URL
	InReplyToID string `json:"in_reply_to_id"` // and its id
}

type jsonAttachment struct {
	URL         string `json:"url"`
	MimeType    string `json:"mime_type"`
	Title       string `json:"title,omitempty"`
	SizeInBytes uint64 `json:"size_in_bytes"`
}

// serveJSONFeed is /feed.json: the same posts as /feed.atom, paged by next_url.
func (s *server) serveJSONFeed(w http.ResponseWriter, r *http.Request) {
	prof, page, err := s.list(r, "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	base := s.base(r)
	pf := newProfileView(prof, base)
	posts := newPostViews(page.Posts, base)
	self := selfURL(base, "/feed.json", r)
	reps, k := s.feedReplies(r, prof, page.Posts, newCacheKey("jsonfeed").add(base, self, page.Next).profile(pf).posts(posts...))
	rd, err := s.cached(k.sum(), func() ([]byte, error) { return jsonFeedBody(pf, posts, reps, base, self, page.Next) })
	if err != nil {
		s.log.Error("public: encode json feed", "err", err)
		refuse(w, http.StatusInternalServerError, "internal error")
		return
	}
	serveRendered(w, r, "application/feed+json; charset=utf-8", newestReply(newest(maxTime(page.Modified, prof.Updated), posts), reps), rd)
}

// jsonFeedBody renders the feed; serveJSONFeed's cache key names every argument. Items
// have no title, as JSON Feed recommends for microblog posts. A post's public replies
// follow it as items of their own, authored by the replier's ID, with the extension
// "_kith": {"in_reply_to": POST_URL} (JSON Feed has no field for a reply).
func jsonFeedBody(pf profileView, posts []postView, reps [][]replyView, base, self, next string) ([]byte, error) {
	f := jsonFeed{
		Version: "https://jsonfeed.org/version/1.1", Title: pf.Name + " on kith",
		HomePageURL: base + "/", FeedURL: self,
		Authors: []jsonAuthor{{Name: pf.Name, URL: pf.URL}}, Items: []jsonFeedItem{},
	}
	if next != "" {
		f.NextURL = base + "/feed.json?after=" + next
	}
	for i, p := range posts {
		it := jsonFeedItem{
			ID: p.URL, URL: p.URL, ContentText: p.Text, Tags: p.Tags,
			DatePublished: atomTime(p.Published), DateModified: atomTime(p.Updated),
		}
		for _, a := range p.Attachments {
			it.Attachments = append(it.Attachments, jsonAttachment{URL: a.URL, MimeType: a.MediaType, Title: a.FileName, SizeInBytes: a.Size})
		}
		f.Items = append(f.Items, it)
		for _, rp := range reps[i] {
			f.Items = append(f.Items, jsonFeedItem{
				ID: replyURL(p.URL, rp), URL: replyURL(p.URL, rp), ContentText: rp.Text,
				DatePublished: atomTime(rp.Created), DateModified: atomTime(rp.Updated),
				Authors: []jsonAuthor{{Name: rp.Author, URL: "urn:kith:" + rp.Author}},
				Kith:    &jsonKith{InReplyTo: p.URL, InReplyToID: p.ID},
			})
		}
	}
	return marshalJSON(f)
}
