package ui

import (
	"net/http"
	"strings"

	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// timelineData is the timeline page: the posts, the filter and the composer's choices.
type timelineData struct {
	Posts    []postView
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
	// Replies are the post's conversation, oldest first (when the app has it).
	Replies []*localv1.ThreadReply
	// Convo, when set, shows the conversation and its forms.
	Convo bool
	// Sig changes whenever the post or its conversation does: the page merges by it.
	Sig string
	// Names maps friends' IDs to names and the person's own to "you", for mentions.
	Names map[string]string
}

func (s *Server) timelinePosts(r *http.Request) ([]postView, string, error) {
	ctx := r.Context()
	st, err := s.cfg.API.Status(ctx, &localv1.StatusRequest{})
	if err != nil {
		return nil, "", err
	}
	q := r.URL.Query()
	tl, err := s.cfg.API.Timeline(ctx, &localv1.TimelineRequest{Tag: strings.TrimPrefix(q.Get("tag"), "#"), FromId: q.Get("from")})
	if err != nil {
		return nil, "", err
	}
	names := map[string]string{st.GetId(): "you"}
	if fs, err := s.cfg.API.ListFriends(ctx, &localv1.ListFriendsRequest{}); err == nil {
		for _, f := range fs.GetFriends() {
			names[f.GetId()] = f.GetName()
		}
	}
	views := make([]postView, 0, len(tl.GetPosts()))
	for _, p := range tl.GetPosts() {
		v := postView{TimelinePost: p, Own: p.GetAuthor() == st.GetId(), Public: p.GetVisibility() == "public",
			CSRF: sessionOf(r).csrf, Names: names}
		for _, a := range p.GetAttachments() {
			switch media := a.GetMediaType(); {
			case !a.GetPresent():
				v.Files = append(v.Files, a)
			case strings.HasPrefix(media, "image/") && media != "image/svg+xml":
				v.Photos = append(v.Photos, a)
			case strings.HasPrefix(media, "video/"):
				v.Videos = append(v.Videos, a)
			case strings.HasPrefix(media, "audio/"):
				v.Audios = append(v.Audios, a)
			default:
				v.Files = append(v.Files, a)
			}
		}
		s.withThread(r, &v)
		views = append(views, v)
	}
	return views, st.GetId(), nil
}

func (s *Server) timelinePage(w http.ResponseWriter, r *http.Request) {
	posts, self, err := s.timelinePosts(r)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	d := timelineData{Posts: posts, Tag: r.URL.Query().Get("tag"), From: r.URL.Query().Get("from"), Self: self}
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
	posts, self, err := s.timelinePosts(r)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
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
