package ui

import (
	"context"
	"net/http"
	"sync"
	"testing"

	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// replyRecorder is the conversation API as far as the reply and reaction forms go.
type replyRecorder struct {
	localv1.UnimplementedConversationServiceServer
	mu      sync.Mutex
	replies []string
}

func (r *replyRecorder) Reply(_ context.Context, req *localv1.ReplyRequest) (*localv1.ReplyResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.replies = append(r.replies, req.GetText())
	return &localv1.ReplyResponse{Delivered: true}, nil
}

func (r *replyRecorder) React(context.Context, *localv1.ReactRequest) (*localv1.ReactResponse, error) {
	return &localv1.ReactResponse{Delivered: true}, nil
}

// TestThreadFormsComeBack: a reply or reaction form sent from a thread page (back=thread)
// returns to that thread, any other back value to the timeline (never a place the form
// names); without the session's CSRF token nothing is sent.
func TestThreadFormsComeBack(t *testing.T) {
	l := newLoggedIn(t)
	conv := &replyRecorder{}
	l.s.cfg.Conversation = conv
	l.s.handler = l.s.routes() // with the conversation routes
	const id = "00112233445566778899aabbccddeeff"
	for _, tc := range []struct {
		path, back, want string
	}{
		{"/post/" + id + "/reply", "thread", "/post/" + id},
		{"/post/" + id + "/react", "thread", "/post/" + id},
		{"/post/" + id + "/reply", "", "/"},
		{"/post/" + id + "/reply", "https://evil.example/", "/"},
		{"/post/" + id + "/reply", "//evil.example", "/"},
	} {
		ct, body := formBody(field{"csrf", l.csrf}, field{"back", tc.back}, field{"text", "hi"}, field{"emoji", "👍"})
		w := l.do(t, tc.path, ct, "", body)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != tc.want {
			t.Errorf("POST %s back=%q: %d to %q, want 303 to %q", tc.path, tc.back, w.Code, w.Header().Get("Location"), tc.want)
		}
	}
	ct, body := formBody(field{"back", "thread"}, field{"text", "no token"})
	if w := l.do(t, "/post/"+id+"/reply", ct, "", body); w.Code != http.StatusForbidden {
		t.Errorf("a reply without the CSRF token: %d, want 403", w.Code)
	}
	conv.mu.Lock()
	defer conv.mu.Unlock()
	if len(conv.replies) != 4 {
		t.Errorf("replies sent: %q, want the 4 with the token", conv.replies)
	}
}
