package ui

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	qrcode "github.com/skip2/go-qrcode"

	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
	"github.com/kithnet/kith/shared/identity"
)

type friendsData struct {
	Self    string
	Friends []*localv1.Friend
	Groups  []*localv1.Group
	Names   map[string]string
	// Confirm, when set, asks before a save that adds a friend to groups whose existing
	// posts they could not see until now.
	Confirm *groupConfirm
}

// groupConfirm is the question the page asks before a friend joins groups: how many of
// the person's existing posts the friend will now see, and the form to go ahead.
type groupConfirm struct {
	Name, ID, Addr, Groups string
	Regroup                bool
	Lines                  []string
}

func (s *Server) friendsPage(w http.ResponseWriter, r *http.Request) {
	s.renderFriends(w, r, nil)
}

func (s *Server) renderFriends(w http.ResponseWriter, r *http.Request, confirm *groupConfirm) {
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
	d := friendsData{Self: st.GetId(), Friends: fs.GetFriends(), Groups: gs.GetGroups(), Names: map[string]string{}, Confirm: confirm}
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
	if r.PostFormValue("confirm") == "" {
		q, err := s.groupQuestion(ctx, id, groups)
		if err != nil {
			s.fail(w, r, http.StatusBadRequest, err)
			return
		}
		if q != nil {
			q.Name, q.Addr = strings.TrimSpace(r.PostFormValue("name")), strings.TrimSpace(r.PostFormValue("addr"))
			q.Groups, q.Regroup = strings.Join(groups, ", "), r.PostFormValue("regroup") != ""
			s.renderFriends(w, r, q)
			return
		}
	}
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

// groupQuestion asks the daemon (dry run) how many existing posts the friend id would
// now see in each group of groups they are not in yet, as `kith group add` does; nil
// when none (a new friend, no new group, or nothing new to see).
func (s *Server) groupQuestion(ctx context.Context, id string, groups []string) (*groupConfirm, error) {
	fs, err := s.cfg.API.ListFriends(ctx, &localv1.ListFriendsRequest{})
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(fs.GetFriends(), func(f *localv1.Friend) bool { return sameID(f.GetId(), id) })
	if i < 0 {
		return nil, nil
	}
	f := fs.GetFriends()[i]
	q := &groupConfirm{ID: f.GetId()}
	for _, g := range groups {
		if slices.Contains(f.GetGroups(), g) {
			continue
		}
		plan, err := s.cfg.API.UpdateGroup(ctx, &localv1.UpdateGroupRequest{Name: g, Add: []string{f.GetId()}, DryRun: true})
		if err != nil {
			return nil, err
		}
		if n := plan.GetNewlyVisible(); n > 0 {
			q.Lines = append(q.Lines, fmt.Sprintf("%s will now see %d of your existing posts (those for group %s).", f.GetName(), n, g))
		}
	}
	if len(q.Lines) == 0 {
		return nil, nil
	}
	return q, nil
}

// sameID compares two IDs as a person may type them (case, spaces, dashes, old form).
func sameID(a, b string) bool {
	ka, errA := identity.ParseID(a)
	kb, errB := identity.ParseID(b)
	return errA == nil && errB == nil && ka == kb
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
