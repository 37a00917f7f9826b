package syncer

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// GetReachability gives a friend this peer's reachability key, which opens the
// candidates of its rendezvous registrations. Strangers get PermissionDenied: the
// addresses are for friends.
func (s *Server) GetReachability(ctx context.Context, _ *syncv1.GetReachabilityRequest) (*syncv1.GetReachabilityResponse, error) {
	caller, err := s.who(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.st.Friend(caller); err != nil {
		return nil, status.Error(codes.PermissionDenied, "reachability keys are for friends")
	}
	key, err := s.st.ReachKey()
	if err != nil {
		return nil, toStatus(err)
	}
	return &syncv1.GetReachabilityResponse{Key: key}, nil
}

// FetchReachability asks a friend for its reachability key and keeps it.
func (p *Puller) FetchReachability(ctx context.Context, c syncv1.SyncServiceClient, friend identity.PublicKey) error {
	resp, err := c.GetReachability(ctx, &syncv1.GetReachabilityRequest{})
	if err != nil {
		return fmt.Errorf("reachability key of %s: %w", friend.Short(), err)
	}
	return p.cfg.Store.SetFriendReachKey(friend, resp.GetKey())
}
