package ui

import (
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// Pages: a timeline of 10,000 posts or a thread of 10,000 replies is shown a page at a
// time, each page leading to the next older one with a plain link (no script needed).
const (
	// PageSize is how many posts a timeline page shows.
	PageSize = 50
	// ThreadPageSize is how many replies a thread page shows.
	ThreadPageSize = 100
	// CardReplies is how many of the newest replies a post card on the timeline shows;
	// the card links to the thread page for the rest.
	CardReplies = 3
)

// timelineData is the timeline page: the posts, the filter and the composer's choices.
type timelineData struct {
	Posts []postView
	// Query is the page's filter and cursor (tag, from, before), URL-encoded: the live
	// update asks for the same page.
	Query string
	// Older links to the next page of older posts; empty on the last page.
	Older    string
	Tag      string
	From     string
	FromName string
	Self     string
	Groups   []*localv1.Group
	Friends  []*localv1.Friend
}

// postView is one post as a card shows it.
type postView struct {
	*localv1.TimelinePost
	Own    bool
	Photos []*localv1.TimelineAttachment
	Videos []*localv1.TimelineAttachment // played with the browser's own player
	Audios []*localv1.TimelineAttachment
	Files  []*localv1.TimelineAttachment
	Public bool
	CSRF   string // for the edit and delete forms
	// Replies are the post's conversation, oldest first (when the app has it): on the
	// timeline the newest CardReplies, on the thread page one page.
	Replies []*localv1.ThreadReply
	// MoreReplies is set on a timeline card whose post has more replies than it shows.
	MoreReplies bool
	// Thread is set on the thread page: its forms come back to it.
	Thread bool
	// Convo, when set, shows the conversation and its forms.
	Convo bool
	// Sig changes whenever the post or its conversation does: the page merges by it.
	Sig string
	// Names maps friends' IDs to names and the person's own to "you", for mentions.
	Names map[string]string
}

// timelinePosts is the page of posts r asks for, the person's ID, and the cursor of the
// next older page ("" on the last).
func (s *Server) timelinePosts(r *http.Request) ([]postView, string, string, error) {
	ctx := r.Context()
	st, err := s.cfg.API.Status(ctx, &localv1.StatusRequest{})
	if err != nil {
		return nil, "", "", err
	}
	q := r.URL.Query()
	tl, err := s.cfg.API.Timeline(ctx, &localv1.TimelineRequest{Tag: strings.TrimPrefix(q.Get("tag"), "#"), FromId: q.Get("from"),
		Limit: PageSize, Before: q.Get("before")})
	if err != nil {
		return nil, "", "", err
	}
	names := s.names(r, st.GetId())
	views := make([]postView, 0, len(tl.GetPosts()))
	for _, p := range tl.GetPosts() {
		v := s.view(r, p, st.GetId(), names)
		s.withThread(r, &v)
		views = append(views, v)
	}
	return views, st.GetId(), tl.GetNextBefore(), nil
}

// names maps friends' IDs to their names and the person's own ID to "you".
func (s *Server) names(r *http.Request, self string) map[string]string {
	names := map[string]string{self: "you"}
	if fs, err := s.cfg.API.ListFriends(r.Context(), &localv1.ListFriendsRequest{}); err == nil {
		for _, f := range fs.GetFriends() {
			names[f.GetId()] = f.GetName()
		}
	}
	return names
}

// view makes a post's card, its attachments sorted by how the page shows them.
func (s *Server) view(r *http.Request, p *localv1.TimelinePost, self string, names map[string]string) postView {
	v := postView{TimelinePost: p, Own: p.GetAuthor() == self, Public: p.GetVisibility() == "public",
		CSRF: sessionOf(r).csrf, Names: names}
	for _, a := range p.GetAttachments() {
		switch kind := mediaKind(a); kind {
		case "photo":
			v.Photos = append(v.Photos, a)
		case "video":
			v.Videos = append(v.Videos, a)
		case "audio":
			v.Audios = append(v.Audios, a)
		default:
			v.Files = append(v.Files, a)
		}
	}
	return v
}

// mediaKind says how a page shows an attachment: "photo", "video", "audio" or "file"
// (anything else, and whatever is not fetched yet).
func mediaKind(a *localv1.TimelineAttachment) string {
	switch media := a.GetMediaType(); {
	case !a.GetPresent():
		return "file"
	case strings.HasPrefix(media, "image/") && media != "image/svg+xml":
		return "photo"
	case strings.HasPrefix(media, "video/"):
		return "video"
	case strings.HasPrefix(media, "audio/"):
		return "audio"
	}
	return "file"
}

// pageQuery is the query of a timeline page: its filter and, when set, its cursor.
func pageQuery(r *http.Request, before string) string {
	q := url.Values{}
	for _, k := range []string{"tag", "from"} {
		if v := r.URL.Query().Get(k); v != "" {
			q.Set(k, v)
		}
	}
	if before != "" {
		q.Set("before", before)
	}
	return q.Encode()
}

// apiStatus is the HTTP status for a failed call of the local API: a bad argument (a
// forged cursor) is the request's fault, an unknown post is not found.
func apiStatus(err error) int {
	switch status.Code(err) {
	case codes.InvalidArgument:
		return http.StatusBadRequest
	case codes.NotFound:
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

func (s *Server) timelinePage(w http.ResponseWriter, r *http.Request) {
	posts, self, next, err := s.timelinePosts(r)
	if err != nil {
		s.fail(w, r, apiStatus(err), err)
		return
	}
	d := timelineData{Posts: posts, Tag: r.URL.Query().Get("tag"), From: r.URL.Query().Get("from"), Self: self,
		Query: pageQuery(r, r.URL.Query().Get("before"))}
	if next != "" {
		d.Older = "/?" + pageQuery(r, next)
	}
	if gs, err := s.cfg.API.ListGroups(r.Context(), &localv1.ListGroupsRequest{}); err == nil {
		d.Groups = gs.GetGroups()
	}
	if fs, err := s.cfg.API.ListFriends(r.Context(), &localv1.ListFriendsRequest{}); err == nil {
		d.Friends = fs.GetFriends()
		for _, f := range d.Friends {
			if f.GetId() == d.From {
				d.FromName = f.GetName()
			}
		}
	}
	s.pages.render(w, r, "timeline", http.StatusOK, d)
}

// timelineFragment is the list of posts alone, which the page fetches on a live update.
func (s *Server) timelineFragment(w http.ResponseWriter, r *http.Request) {
	posts, self, _, err := s.timelinePosts(r)
	if err != nil {
		s.fail(w, r, apiStatus(err), err)
		return
	}
	s.pages.render(w, r, "posts", http.StatusOK, timelineData{Posts: posts, Self: self})
}

func (s *Server) editPost(w http.ResponseWriter, r *http.Request) {
	_, err := s.cfg.API.EditPost(r.Context(), &localv1.EditPostRequest{PostId: r.PathValue("id"), Text: r.PostFormValue("text")})
	s.done(w, r, err, "/")
}

func (s *Server) deletePost(w http.ResponseWriter, r *http.Request) {
	_, err := s.cfg.API.DeletePost(r.Context(), &localv1.DeletePostRequest{PostId: r.PathValue("id")})
	s.done(w, r, err, "/")
}

// done answers a state-changing request: the error page, or back to a page.
func (s *Server) done(w http.ResponseWriter, r *http.Request, err error, back string) {
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
