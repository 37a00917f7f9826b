package ui

import (
	"context"
	"net/http"
	"time"

	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// syncTimeout bounds a "sync now" from the page.
const syncTimeout = 60 * time.Second

type connection struct {
	Friend    *localv1.Friend
	Reachable bool
	Path      string
	Remote    string
	LastSync  int64
}

type connectionsData struct {
	Self       string
	Listen     string
	Rendezvous *localv1.RendezvousStatus
	Conns      []connection
	Results    []syncResult
}

type syncResult struct {
	Name, Error, Path string
	Pulled, Live      uint32
	Removed           bool
}

func (s *Server) connectionsPage(w http.ResponseWriter, r *http.Request) {
	s.renderConnections(w, r, nil)
}

func (s *Server) renderConnections(w http.ResponseWriter, r *http.Request, results []syncResult) {
	st, fs, err := s.statusAndFriends(r.Context())
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	peers := map[string]*localv1.PeerStatus{}
	for _, p := range st.GetPeers() {
		peers[p.GetId()] = p
	}
	d := connectionsData{Self: st.GetId(), Listen: st.GetListenAddress(), Rendezvous: st.GetRendezvous(), Results: results}
	for _, f := range fs.GetFriends() {
		c := connection{Friend: f}
		if p := peers[f.GetId()]; p != nil {
			c.Reachable, c.Path, c.Remote, c.LastSync = true, p.GetPath(), p.GetRemote(), p.GetLastSyncUnixMs()
		}
		d.Conns = append(d.Conns, c)
	}
	s.pages.render(w, r, "connections", http.StatusOK, d)
}

// syncNow pulls from one friend or all now and shows the outcome on the connections page.
func (s *Server) syncNow(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), syncTimeout)
	defer cancel()
	resp, err := s.cfg.API.Sync(ctx, &localv1.SyncRequest{FriendId: r.PostFormValue("friend")})
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, err)
		return
	}
	names := map[string]string{}
	if fs, err := s.cfg.API.ListFriends(r.Context(), &localv1.ListFriendsRequest{}); err == nil {
		for _, f := range fs.GetFriends() {
			names[f.GetId()] = f.GetName()
		}
	}
	var results []syncResult
	for _, res := range resp.GetResults() {
		n := names[res.GetFriendId()]
		if n == "" {
			n = res.GetFriendId()
		}
		results = append(results, syncResult{Name: n, Error: res.GetError(), Path: res.GetPath(), Pulled: res.GetPulled(),
			Live: res.GetLive(), Removed: res.GetRemoved()})
	}
	s.renderConnections(w, r, results)
}
