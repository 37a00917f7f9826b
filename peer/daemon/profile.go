package daemon

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/profile"
	"github.com/kithnet/kith/peer/store"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// GetProfile reports the public profile settings.
func (l *Local) GetProfile(ctx context.Context, _ *localv1.GetProfileRequest) (*localv1.GetProfileResponse, error) {
	p, err := l.profile()
	if err != nil {
		return nil, err
	}
	return &localv1.GetProfileResponse{Profile: p}, nil
}

// SetProfile changes the public profile settings given in the request.
func (l *Local) SetProfile(ctx context.Context, req *localv1.SetProfileRequest) (*localv1.SetProfileResponse, error) {
	// The public profile is signed by the identity (strangers verify it with the ID
	// alone), so a joined device can neither sign nor serve it: refuse before changing
	// anything.
	if _, err := l.st.Key(); errors.Is(err, store.ErrNeedIdentity) {
		return nil, grpcError(err)
	}
	if req.GetSetFollows() {
		var fs []profile.Follow
		for _, w := range req.GetPublicFollows() {
			s := w.GetId()
			if w.GetAddress() != "" {
				s += "@" + w.GetAddress()
			}
			f, err := profile.ParseFollow(s)
			if err != nil {
				return nil, status.Error(codes.InvalidArgument, err.Error())
			}
			fs = append(fs, f)
		}
		if err := l.st.SetPublicFollows(fs); err != nil {
			return nil, profileError(err)
		}
	}
	if req.PublishName != nil {
		if err := l.st.SetPublishName(req.GetPublishName()); err != nil {
			return nil, profileError(err)
		}
	}
	p, err := l.profile()
	if err != nil {
		return nil, err
	}
	return &localv1.SetProfileResponse{Profile: p}, nil
}

func (l *Local) profile() (*localv1.Profile, error) {
	k, err := l.st.Self()
	if err != nil {
		return nil, grpcError(err)
	}
	name, err := l.st.Name()
	if err != nil {
		return nil, grpcError(err)
	}
	ps, err := l.st.PublicSettings()
	if err != nil {
		return nil, grpcError(err)
	}
	p := &localv1.Profile{Id: string(k.ID()), Name: name, PublishName: ps.PublishName}
	for _, f := range ps.Follows {
		p.PublicFollows = append(p.PublicFollows, &localv1.PublicFollow{Id: string(f.Key.ID()), Address: f.Addr})
	}
	return p, nil
}

func profileError(err error) error {
	if errors.Is(err, profile.ErrInvalid) {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return grpcError(err)
}
