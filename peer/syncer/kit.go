package syncer

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/recovery"
	"github.com/kithnet/kith/peer/store"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// GetRecoveryKit seals this peer's friend list for a friend to keep. Strangers get
// nothing: a kit is for the people who will help its owner recover.
func (s *Server) GetRecoveryKit(ctx context.Context, _ *syncv1.GetRecoveryKitRequest) (*syncv1.GetRecoveryKitResponse, error) {
	caller, err := s.who(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.st.Friend(caller); err != nil {
		return nil, status.Error(codes.PermissionDenied, "recovery kits are for friends")
	}
	k, err := s.st.Key()
	if err != nil {
		return nil, toStatus(err)
	}
	fs, err := s.st.Friends()
	if err != nil {
		return nil, toStatus(err)
	}
	name, _ := s.st.Name()
	kit := recovery.Kit{Name: name, Created: s.now()}
	for _, f := range fs {
		kit.Friends = append(kit.Friends, recovery.Friend{Key: f.Key, Name: f.Name, Addr: f.Addr, Groups: f.Groups})
	}
	env, err := recovery.Seal(k, kit)
	if err != nil {
		return nil, toStatus(err)
	}
	return &syncv1.GetRecoveryKitResponse{Kit: env}, nil
}

// sendKit sends the caller's own kit first in a Recover stream, when this peer holds one.
func (s *Server) sendKit(caller identity.PublicKey, stream syncv1.SyncService_RecoverServer) error {
	env, err := s.st.Kit(caller)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return toStatus(err)
	}
	return stream.Send(&syncv1.RecoverResponse{RecoveryKit: env})
}

// FetchKit asks a friend for its recovery kit, checks the friend signed it, and keeps it
// when it is newer than the one held. It reports whether it kept it.
func (p *Puller) FetchKit(ctx context.Context, c syncv1.SyncServiceClient, friend identity.PublicKey) (bool, error) {
	resp, err := c.GetRecoveryKit(ctx, &syncv1.GetRecoveryKitRequest{})
	if err != nil {
		return false, fmt.Errorf("recovery kit of %s: %w", friend.Short(), err)
	}
	created, _, err := recovery.Verify(resp.GetKit(), friend)
	if err != nil {
		p.log.Warn("rejected a recovery kit", "friend", friend.ID(), "err", err)
		return false, err
	}
	return p.cfg.Store.PutKit(friend, resp.GetKit(), created)
}
