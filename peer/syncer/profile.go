package syncer

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/profile"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
)

// GetProfile answers the serving peer's public profile, signed now. Anyone may ask: it
// holds only what the person published (by default, nothing but their key).
func (s *Server) GetProfile(ctx context.Context, _ *syncv1.GetProfileRequest) (*syncv1.GetProfileResponse, error) {
	if _, err := s.who(ctx); err != nil {
		return nil, err
	}
	p, err := s.st.PublicProfile()
	if err != nil {
		return nil, toStatus(err)
	}
	k, err := s.st.Key()
	if err != nil {
		return nil, toStatus(err)
	}
	env, err := profile.Seal(k, p, s.now())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "seal the public profile: %v", err)
	}
	return &syncv1.GetProfileResponse{Profile: env}, nil
}
