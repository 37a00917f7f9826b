package daemon

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/syncer"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
)

// introduce sends f our signed friend request once, so that someone we added sees who
// asks and may add us back. Once f answers that they count us as a friend, nothing more
// is sent. Failures are only logged: the next connection tries again.
func (n *Node) introduce(ctx context.Context, c syncv1.SyncServiceClient, f store.Friend) {
	state, err := n.st.RequestState(f.Key)
	if err != nil || state != "" {
		return
	}
	key, err := n.st.Key()
	if err != nil {
		return
	}
	name, _ := n.st.Name()
	req, err := syncer.SignFriendRequest(key, f.Key, name, n.advertised(), time.Now())
	if err != nil {
		n.log.Warn("sign a friend request", "err", err)
		return
	}
	resp, err := c.RequestFriendship(ctx, req)
	if err != nil {
		n.log.Info("could not deliver a friend request yet", "friend", f.Key.ID(), "err", err)
		return
	}
	if err := n.st.SetRequestState(f.Key, resp.GetAlreadyFriends()); err != nil {
		n.log.Warn("note a friend request", "err", err)
	}
}

// advertised is the address a friend request gives: the node's listening address when it
// names a host (direct mode), else nothing (the friend finds us through a rendezvous).
func (n *Node) advertised() string {
	if n.reach.Rendezvous() {
		return ""
	}
	a, ok := n.Addr().(*net.UDPAddr)
	if !ok || a.IP.IsUnspecified() {
		return ""
	}
	return a.String()
}

// FriendRequests lists pending friend requests, newest first.
func (c *Conversation) FriendRequests(ctx context.Context, _ *localv1.FriendRequestsRequest) (*localv1.FriendRequestsResponse, error) {
	rs, err := c.l.st.FriendRequests()
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &localv1.FriendRequestsResponse{}
	for _, r := range rs {
		resp.Requests = append(resp.Requests, &localv1.FriendRequest{Id: string(r.From.ID()), Name: r.Name, Address: r.Addr, CreatedUnixMs: r.Created.UnixMilli()})
	}
	return resp, nil
}

// AnswerFriendRequest accepts (adds the requester as a friend) or ignores a request.
func (c *Conversation) AnswerFriendRequest(ctx context.Context, req *localv1.AnswerFriendRequestRequest) (*localv1.AnswerFriendRequestResponse, error) {
	rs, err := c.l.st.FriendRequests()
	if err != nil {
		return nil, grpcError(err)
	}
	who := strings.TrimSpace(req.GetWho())
	var match []store.FriendRequest
	for _, r := range rs {
		if string(r.From.ID()) == who || strings.EqualFold(r.Name, who) {
			match = append(match, r)
		}
	}
	switch {
	case len(match) == 0:
		return nil, status.Errorf(codes.NotFound, "no pending friend request from %q (see kith friend requests)", who)
	case len(match) > 1:
		return nil, status.Errorf(codes.InvalidArgument, "%d requests are from someone called %q; use their ID", len(match), who)
	}
	r := match[0]
	if !req.GetAccept() {
		if err := c.l.st.DropFriendRequest(r.From); err != nil {
			return nil, grpcError(err)
		}
		return &localv1.AnswerFriendRequestResponse{Id: string(r.From.ID()), Name: r.Name}, nil
	}
	f, err := c.l.st.AcceptFriendRequest(r.From, r.Name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, grpcError(err)
	}
	c.l.node.Wake()
	return &localv1.AnswerFriendRequestResponse{Id: string(f.Key.ID()), Name: f.Name}, nil
}
