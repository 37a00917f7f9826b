package ui

import (
	"context"
	"net/http"
	"slices"
	"strings"

	qrcode "github.com/skip2/go-qrcode"

	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

type friendsData struct {
	Self    string
	Friends []*localv1.Friend
	Groups  []*localv1.Group
	Names   map[string]string
}

func (s *Server) friendsPage(w http.ResponseWriter, r *http.Request) {
	st, fs, err := s.statusAndFriends(r.Context())
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	gs, err := s.cfg.API.ListGroups(r.Context(), &localv1.ListGroupsRequest{})
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	d := friendsData{Self: st.GetId(), Friends: fs.GetFriends(), Groups: gs.GetGroups(), Names: map[string]string{}}
	for _, f := range d.Friends {
		d.Names[f.GetId()] = f.GetName()
	}
	s.pages.render(w, r, "friends", http.StatusOK, d)
}

// statusAndFriends asks the node's status and the friend list, which most pages show.
func (s *Server) statusAndFriends(ctx context.Context) (*localv1.StatusResponse, *localv1.ListFriendsResponse, error) {
	st, err := s.cfg.API.Status(ctx, &localv1.StatusRequest{})
	if err != nil {
		return nil, nil, err
	}
	fs, err := s.cfg.API.ListFriends(ctx, &localv1.ListFriendsRequest{})
	return st, fs, err
}

// qr is the person's own ID as a QR code, for a friend's phone to scan.
func (s *Server) qr(w http.ResponseWriter, r *http.Request) {
	st, err := s.cfg.API.Status(r.Context(), &localv1.StatusRequest{})
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	png, err := qrcode.Encode(st.GetId(), qrcode.Medium, 320)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(png)
}

// saveFriend adds a friend or updates one: name, address, and the groups given, which
// replace the friend's groups (leaving the groups not listed).
func (s *Server) saveFriend(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := strings.TrimSpace(r.PostFormValue("id"))
	groups := splitGroups(r.PostFormValue("groups"))
	resp, err := s.cfg.API.AddFriend(ctx, &localv1.AddFriendRequest{Friend: &localv1.Friend{Id: id,
		Name: strings.TrimSpace(r.PostFormValue("name")), Address: strings.TrimSpace(r.PostFormValue("addr")), Groups: groups}})
	if err == nil && r.PostFormValue("regroup") != "" {
		for _, g := range resp.GetFriend().GetGroups() {
			if !slices.Contains(groups, g) && err == nil {
				_, err = s.cfg.API.UpdateGroup(ctx, &localv1.UpdateGroupRequest{Name: g, Remove: []string{id}})
			}
		}
	}
	s.done(w, r, err, "/friends")
}

func splitGroups(s string) []string {
	var out []string
	for _, g := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}

func (s *Server) removeFriend(w http.ResponseWriter, r *http.Request) {
	_, err := s.cfg.API.RemoveFriend(r.Context(), &localv1.RemoveFriendRequest{Id: r.PathValue("id")})
	s.done(w, r, err, "/friends")
}
