package syncer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/recovery"
	"github.com/kithnet/kith/peer/store"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// OwnKit seals this home's recovery kit, again only when what it holds changed (the
// store's kit revision moved), so every friend gets byte-identical copies of one revision.
type OwnKit struct {
	st *store.Store

	mu  sync.Mutex         // guards rev, env
	rev time.Time          // the revision env was sealed at
	env *signedv1.Envelope // the sealed kit of rev
}

// NewOwnKit returns the kit sealer of st.
func NewOwnKit(st *store.Store) *OwnKit { return &OwnKit{st: st} }

// Envelope returns the signed, encrypted kit of the store's current revision.
func (o *OwnKit) Envelope() (*signedv1.Envelope, time.Time, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	rev, err := o.st.KitRevision()
	if err != nil {
		return nil, time.Time{}, err
	}
	if o.env != nil && o.rev.Equal(rev) {
		return o.env, o.rev, nil // reading every post's audience again is for a change
	}
	kit, err := o.st.OwnKit()
	if err != nil {
		return nil, time.Time{}, err
	}
	k, err := o.st.Key()
	if err != nil {
		return nil, time.Time{}, err
	}
	env, err := recovery.Seal(k, kit)
	if err != nil {
		return nil, time.Time{}, err
	}
	o.env, o.rev = env, kit.Created
	return env, kit.Created, nil
}

// GetRecoveryKit gives a friend this peer's kit to keep. Strangers get nothing: a kit is
// for the people who will help its owner recover.
func (s *Server) GetRecoveryKit(ctx context.Context, _ *syncv1.GetRecoveryKitRequest) (*syncv1.GetRecoveryKitResponse, error) {
	if _, err := s.friend(ctx); err != nil {
		return nil, err
	}
	env, _, err := s.kit.Envelope()
	if err != nil {
		return nil, toStatus(err)
	}
	return &syncv1.GetRecoveryKitResponse{Kit: env}, nil
}

// PushRecoveryKit keeps a friend's kit that the friend pushed because it changed, when it
// is the friend's (signed by the caller) and newer than the one held.
func (s *Server) PushRecoveryKit(ctx context.Context, req *syncv1.PushRecoveryKitRequest) (*syncv1.PushRecoveryKitResponse, error) {
	caller, err := s.friend(ctx)
	if err != nil {
		return nil, err
	}
	created, _, err := recovery.Verify(req.GetKit(), caller)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	kept, err := s.st.PutKit(caller, req.GetKit(), created)
	if err != nil {
		return nil, toStatus(err)
	}
	return &syncv1.PushRecoveryKitResponse{Kept: kept}, nil
}

// friend returns the caller when it is a friend; PermissionDenied otherwise.
func (s *Server) friend(ctx context.Context) (identity.PublicKey, error) {
	caller, err := s.who(ctx)
	if err != nil {
		return caller, err
	}
	if _, err := s.st.Friend(caller); err != nil {
		return caller, status.Error(codes.PermissionDenied, "recovery kits are for friends")
	}
	return caller, nil
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

// RecoverKit asks a friend for the copy of the caller's own kit it keeps: nil when it
// keeps none. The caller verifies and opens it (recovery.Open).
func (p *Puller) RecoverKit(ctx context.Context, c syncv1.SyncServiceClient) (*signedv1.Envelope, error) {
	stream, err := c.Recover(ctx, &syncv1.RecoverRequest{KitOnly: true})
	if err != nil {
		return nil, fmt.Errorf("recovery kit: %w", err)
	}
	msg, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return nil, nil // the friend keeps no kit of ours
	}
	if err != nil {
		return nil, fmt.Errorf("recovery kit: %w", err)
	}
	return msg.GetRecoveryKit(), nil
}
