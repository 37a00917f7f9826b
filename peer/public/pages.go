package public

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"time"
)

// pageView is what a page template renders.
type pageView struct {
	Title       string
	Description string
	Canonical   string
	OGType      string
	OGImage     string
	NoIndex     bool
	Base        string
	Profile     profileView
	Posts       []postView
	Entries     []template.HTML // the rendered h-entry of each of Posts
	Post        postView        // the post of a single-post page
	Tag         string
	Next        string      // URL of the next page, rel=next
	Replies     []replyView // the public replies of a single-post page
}

// list reads the profile and one page of public posts (of a tag, when tag is not empty),
// with the posts a faulty Source let through left out.
func (s *server) list(r *http.Request, tag string) (Profile, Page, error) {
	after, err := afterParam(r)
	if err != nil {
		return Profile{}, Page{}, err
	}
	ctx, cancel := s.sourceCtx(r)
	defer cancel()
	prof, err := s.cfg.Source.Profile(ctx)
	if err != nil {
		return prof, Page{}, err
	}
	page, err := s.cfg.Source.PublicPosts(ctx, Query{Tag: tag, After: after, Limit: s.cfg.PageSize})
	if err != nil {
		return prof, page, err
	}
	page.Posts = s.keepPublic(page.Posts, prof.ID, tag)
	if page.Next != "" && !validCursor(page.Next) {
		s.log.Error("public: source returned an unusable cursor; pagination stops here")
		page.Next = ""
	}
	return prof, page, nil
}

func (s *server) serveIndex(w http.ResponseWriter, r *http.Request) {
	prof, page, err := s.list(r, "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	base := s.base(r)
	v := s.listView(r, prof, page, base, "/")
	v.OGType = "profile"
	v.Title = v.Profile.Name + " on kith"
	v.Description = "Public posts of " + v.Profile.Name + " on kith."
	s.render(w, r, "index", maxTime(page.Modified, prof.Updated), v)
}

func (s *server) serveTag(w http.ResponseWriter, r *http.Request, raw string) {
	tag, err := NormalizeTag(raw)
	if err != nil || raw[0] == '#' {
		refuse(w, http.StatusBadRequest, ErrMalformedTag.Error())
		return
	}
	if tag != raw { // one tag, one URL
		http.Redirect(w, r, "/tags/"+url.PathEscape(tag), http.StatusMovedPermanently)
		return
	}
	prof, page, err := s.list(r, tag)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	base := s.base(r)
	v := s.listView(r, prof, page, base, "/tags/"+url.PathEscape(tag))
	v.Tag = tag
	v.OGType = "website"
	v.Title = "#" + tag + " — " + v.Profile.Name + " on kith"
	v.Description = "Public posts of " + v.Profile.Name + " tagged #" + tag + "."
	s.render(w, r, "tag", maxTime(page.Modified, prof.Updated), v)
}

func (s *server) servePost(w http.ResponseWriter, r *http.Request, raw string) {
	prof, post, ok := s.onePost(w, r, raw)
	if !ok {
		return
	}
	base := s.base(r)
	pv := newPostView(post, base)
	v := pageView{
		Title: pv.Title, Description: excerpt(pv.Text, 200), Canonical: pv.URL, OGType: "article",
		NoIndex: s.cfg.NoIndex, Base: base, Profile: newProfileView(prof, base), Post: pv,
	}
	ctx, cancel := s.sourceCtx(r)
	v.Replies = s.replies(ctx, prof, PostID(post.Payload.GetId()))
	cancel()
	for _, a := range pv.Attachments {
		if a.Image {
			v.OGImage = a.URL
			break
		}
	}
	s.render(w, r, "post", maxTime(pv.Updated, prof.Updated), v)
}

// listView is the part of a list page that the index and tag pages share.
func (s *server) listView(r *http.Request, prof Profile, page Page, base, path string) pageView {
	canonical := base + path
	if after, _ := afterParam(r); after != "" {
		canonical += "?after=" + after
	}
	v := pageView{
		Canonical: canonical, NoIndex: s.cfg.NoIndex, Base: base,
		Profile: newProfileView(prof, base), Posts: newPostViews(page.Posts, base),
	}
	if page.Next != "" {
		v.Next = base + path + "?after=" + page.Next
	}
	return v
}

func (s *server) render(w http.ResponseWriter, r *http.Request, name string, modified time.Time, v pageView) {
	rd, err := s.cached(pageKey(name, v), func() ([]byte, error) {
		var buf bytes.Buffer
		var err error
		if v.Entries, err = s.entries(v.Posts, v.Base); err == nil {
			err = s.pages.ExecuteTemplate(&buf, name, v)
		}
		return buf.Bytes(), err
	})
	if err != nil {
		s.log.Error("public: render", "page", name, "err", err)
		refuse(w, http.StatusInternalServerError, "internal error")
		return
	}
	serveRendered(w, r, "text/html; charset=utf-8", newest(modified, v.Posts), rd)
}

// pageKey names everything a page is rendered from: every field of pageView but
// Entries, which is made from Posts. A field added to pageView must be added here.
func pageKey(name string, v pageView) [32]byte {
	noindex := "index"
	if v.NoIndex {
		noindex = "noindex"
	}
	k := newCacheKey("page").add(name, v.Title, v.Description, v.Canonical, v.OGType, v.OGImage, noindex, v.Base, v.Tag, v.Next)
	return replyKey(k.profile(v.Profile).posts(v.Posts...).posts(v.Post), v.Replies).sum()
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
