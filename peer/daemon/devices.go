package daemon

import (
	"context"
	"log/slog"

	"github.com/kithnet/kith/peer/store"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// Devices (issue 16; docs/DESIGN.md "Devices: one person, several keys"): the node's
// hooks into device revocations. The transport asks revokedIn for a person's
// revocations at every handshake with one of their devices; fetchDevices keeps a
// friend's revocations current before each pull.

// revokedIn returns the transport's view of the revocations st holds. An error makes
// the transport refuse the person's devices (failing open would let a revoked one in).
func revokedIn(st *store.Store, log *slog.Logger) func(identity.PublicKey) ([]device.Revocation, error) {
	return func(person identity.PublicKey) ([]device.Revocation, error) {
		rs, err := st.Revocations(person)
		if err != nil {
			log.Warn("could not read a person's device revocations: refusing their devices", "person", person.ID(), "err", err)
		}
		return rs, err
	}
}

// fetchDevices keeps the friend's device revocations; failing to is logged, never fatal.
func (n *Node) fetchDevices(ctx context.Context, c syncv1.SyncServiceClient, f store.Friend) {
	if err := n.puller.FetchDevices(ctx, c, f.Key); err != nil && ctx.Err() == nil {
		n.log.Info("could not keep a friend's device revocations", "friend", f.Key.ID(), "err", err)
	}
}
