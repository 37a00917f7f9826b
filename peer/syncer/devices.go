package syncer

import (
	"context"
	"errors"
	"fmt"

	"github.com/kithnet/kith/peer/store"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// Devices (issue 16; docs/DESIGN.md "Devices: one person, several keys"): a person's
// revocations travel to whoever verifies the person's posts, and posts a revoked
// device signed at or after its revocation are refused one by one, with a log line
// naming the person and the device, without failing the rest of the pull.

// GetDevices gives friends (and the person's own devices) this person's device
// revocations: they only make verifying the person's posts stricter. Strangers get an
// empty answer, so they do not learn how many devices the person revoked.
func (s *Server) GetDevices(ctx context.Context, _ *syncv1.GetDevicesRequest) (*syncv1.GetDevicesResponse, error) {
	self, err := s.st.Self()
	if err != nil {
		return nil, toStatus(err)
	}
	// Friends only: revocations tell how many devices a person had and when they
	// dropped one, which is nothing a stranger needs (a stranger sees public posts
	// only, and a device's public post it opens with the chain it carries).
	if caller, ok := s.caller(ctx); !ok || s.stranger(caller) {
		return &syncv1.GetDevicesResponse{}, nil
	}
	envs, err := s.st.RevocationEnvelopes(self)
	if err != nil {
		return nil, toStatus(err)
	}
	return &syncv1.GetDevicesResponse{Revocations: envs}, nil
}

// FetchDevices asks a friend for its revocations and keeps those that verify; one that
// does not verify is reported and the rest are kept.
func (p *Puller) FetchDevices(ctx context.Context, c syncv1.SyncServiceClient, friend identity.PublicKey) error {
	resp, err := c.GetDevices(ctx, &syncv1.GetDevicesRequest{})
	if err != nil {
		return fmt.Errorf("device revocations of %s: %w", friend.Short(), err)
	}
	var errs []error
	for i, env := range resp.GetRevocations() {
		if i >= store.MaxRevocations {
			errs = append(errs, fmt.Errorf("%w: more than %d revocations", ErrTampered, store.MaxRevocations))
			break
		}
		changed, err := p.cfg.Store.AddRevocation(friend, env)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if changed {
			p.log.Info("a friend revoked one of their devices", "friend", friend.ID(), "device_key", identity.PublicKey(env.GetSigner()).Short())
		}
	}
	return errors.Join(errs...)
}

// revokedPost reports whether err refuses a post because its device was revoked (or
// its certificate is no longer valid): such a post is left out, not a tampered answer.
func revokedPost(err error) bool {
	return errors.Is(err, device.ErrRevoked) || errors.Is(err, device.ErrExpired)
}
