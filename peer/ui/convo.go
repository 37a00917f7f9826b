package ui

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// quickEmojis are the reactions offered under each post.
var quickEmojis = []string{"👍", "❤️", "😂", "😮", "😢"}

// conversationRoutes adds threads, replies, reactions, notifications and friend requests.
func (s *Server) conversationRoutes(auth func(string, http.HandlerFunc)) {
	auth("GET /post/{id}", s.threadPage)
	auth("POST /post/{id}/reply", s.reply)
	auth("POST /post/{id}/react", s.react)
	auth("GET /notifications", s.notificationsPage)
	auth("POST /notifications/read", s.markRead)
	auth("POST /requests/{id}/accept", s.answerRequest(true))
	auth("POST /requests/{id}/ignore", s.answerRequest(false))
}

// withThread fills a post card's conversation, and the signature the page merges by.
func (s *Server) withThread(r *http.Request, v *postView) {
	v.Sig = fmt.Sprint(v.GetVersion())
	if s.cfg.Conversation == nil {
		return
	}
	v.Convo = true
	var sig strings.Builder
	fmt.Fprintf(&sig, "%d.%d", v.GetVersion(), v.GetReplyCount())
	for _, re := range v.GetReactions() {
		fmt.Fprintf(&sig, ".%s%d%t", re.GetEmoji(), re.GetCount(), re.GetMine())
	}
	if v.GetReplyCount() > 0 && v.Replies == nil {
		if t, err := s.cfg.Conversation.Thread(r.Context(), &localv1.ThreadRequest{PostId: v.GetId(), Limit: CardReplies}); err == nil {
			v.Replies = t.GetReplies()
			v.MoreReplies = int(v.GetReplyCount()) > len(v.Replies)
		}
	}
	for _, rp := range v.Replies {
		fmt.Fprintf(&sig, ".%s%d%t", rp.GetId(), rp.GetUpdatedUnixMs(), rp.GetPending())
	}
	v.Sig = sig.String()
}

// threadData is the thread page: one post and a page of its replies.
type threadData struct {
	Post postView
	// Older links to the page of older replies; empty on the first page.
	Older string
	// Newest links back to the newest replies when this page is an older one.
	Newest string
}

// threadPage shows a post with a page of its conversation: the newest ThreadPageSize
// replies older than ?before (all the newest ones without it), oldest first.
func (s *Server) threadPage(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Conversation == nil {
		s.fail(w, r, http.StatusNotFound, errors.New("this web app shows no conversations"))
		return
	}
	id := r.PathValue("id")
	st, err := s.cfg.API.Status(r.Context(), &localv1.StatusRequest{})
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	before := r.URL.Query().Get("before")
	t, err := s.cfg.Conversation.Thread(r.Context(), &localv1.ThreadRequest{PostId: id, Limit: ThreadPageSize, Before: before})
	if err != nil {
		s.fail(w, r, apiStatus(err), err)
		return
	}
	v := s.view(r, t.GetPost(), st.GetId(), s.names(r, st.GetId()))
	v.Replies, v.Thread = t.GetReplies(), true
	if v.Replies == nil {
		v.Replies = []*localv1.ThreadReply{} // not nil: withThread must not ask again
	}
	s.withThread(r, &v)
	v.MoreReplies = false
	d := threadData{Post: v}
	if t.GetNextBefore() != "" {
		d.Older = "/post/" + url.PathEscape(t.GetPost().GetId()) + "?" + url.Values{"before": {t.GetNextBefore()}}.Encode()
	}
	if before != "" {
		d.Newest = "/post/" + url.PathEscape(t.GetPost().GetId())
	}
	s.pages.render(w, r, "thread", http.StatusOK, d)
}

// back is where a form about post id returns to: its thread page when the form was
// there (back=thread), the timeline otherwise.
func back(r *http.Request, id string) string {
	if r.PostFormValue("back") == "thread" {
		return "/post/" + url.PathEscape(id)
	}
	return "/"
}

func (s *Server) reply(w http.ResponseWriter, r *http.Request) {
	_, err := s.cfg.Conversation.Reply(r.Context(), &localv1.ReplyRequest{PostId: r.PathValue("id"), Text: r.PostFormValue("text")})
	s.done(w, r, err, back(r, r.PathValue("id")))
}

func (s *Server) react(w http.ResponseWriter, r *http.Request) {
	_, err := s.cfg.Conversation.React(r.Context(), &localv1.ReactRequest{PostId: r.PathValue("id"), Emoji: r.PostFormValue("emoji")})
	s.done(w, r, err, back(r, r.PathValue("id")))
}

type notificationsData struct {
	Notes    []*localv1.Notification
	Requests []*localv1.FriendRequest
}

func (s *Server) notificationsPage(w http.ResponseWriter, r *http.Request) {
	ns, err := s.cfg.Conversation.Notifications(r.Context(), &localv1.NotificationsRequest{All: true})
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	rs, err := s.cfg.Conversation.FriendRequests(r.Context(), &localv1.FriendRequestsRequest{})
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	s.pages.render(w, r, "notifications", http.StatusOK, notificationsData{Notes: ns.GetNotifications(), Requests: rs.GetRequests()})
}

func (s *Server) markRead(w http.ResponseWriter, r *http.Request) {
	_, err := s.cfg.Conversation.MarkRead(r.Context(), &localv1.MarkReadRequest{})
	s.done(w, r, err, "/notifications")
}

func (s *Server) answerRequest(accept bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, err := s.cfg.Conversation.AnswerFriendRequest(r.Context(), &localv1.AnswerFriendRequestRequest{Who: r.PathValue("id"), Accept: accept})
		s.done(w, r, err, "/notifications")
	}
}

// sendUnread writes the unread count as an "unread" event of the live stream.
func (s *Server) sendUnread(w http.ResponseWriter, r *http.Request) {
	ns, err := s.cfg.Conversation.Notifications(r.Context(), &localv1.NotificationsRequest{})
	if err != nil {
		return
	}
	fmt.Fprintf(w, "event: unread\ndata: %d\n\n", ns.GetUnread())
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
}
