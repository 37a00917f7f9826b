package ui

import (
	"fmt"
	"net/http"
	"strings"

	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// quickEmojis are the reactions offered under each post.
var quickEmojis = []string{"👍", "❤️", "😂", "😮", "😢"}

// conversationRoutes adds threads, replies, reactions, notifications and friend requests.
func (s *Server) conversationRoutes(auth func(string, http.HandlerFunc)) {
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
	if v.GetReplyCount() > 0 {
		if t, err := s.cfg.Conversation.Thread(r.Context(), &localv1.ThreadRequest{PostId: v.GetId()}); err == nil {
			v.Replies = t.GetReplies()
			for _, rp := range v.Replies {
				fmt.Fprintf(&sig, ".%s%d%t", rp.GetId(), rp.GetUpdatedUnixMs(), rp.GetPending())
			}
		}
	}
	v.Sig = sig.String()
}

func (s *Server) reply(w http.ResponseWriter, r *http.Request) {
	_, err := s.cfg.Conversation.Reply(r.Context(), &localv1.ReplyRequest{PostId: r.PathValue("id"), Text: r.PostFormValue("text")})
	s.done(w, r, err, "/")
}

func (s *Server) react(w http.ResponseWriter, r *http.Request) {
	_, err := s.cfg.Conversation.React(r.Context(), &localv1.ReactRequest{PostId: r.PathValue("id"), Emoji: r.PostFormValue("emoji")})
	s.done(w, r, err, "/")
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
