package reach

import (
	"context"
	"log/slog"
	"time"

	"github.com/kithnet/kith/shared/identity"
)

// findStages logs, at debug, each stage a find reaches (offer sent, delivered, answer
// received, TURN credentials ready, allocation ready, permissions made, the peer's
// ping through the relay, handshake done) with the time since the find started, so an
// operator sees where a slow connect spent its time. Each line reads "reach: STAGE",
// with peer and elapsed_ms.
type findStages struct {
	log   *slog.Logger
	peer  identity.ID
	start time.Time
}

// stagesKey carries a find's findStages in its context, to the offer, the early relay
// and the relay attempt it starts.
type stagesKey struct{}

// traceFind returns ctx carrying a find towards k that starts now.
func (a *Agent) traceFind(ctx context.Context, k identity.PublicKey) context.Context {
	f := &findStages{log: a.log, peer: k.ID(), start: time.Now()}
	return context.WithValue(ctx, stagesKey{}, f)
}

// stage logs that the find of ctx reached what; nothing outside a find.
func stage(ctx context.Context, what string) {
	f, ok := ctx.Value(stagesKey{}).(*findStages)
	if !ok {
		return
	}
	ms := float64(time.Since(f.start).Microseconds()) / 1000
	f.log.Debug("reach: "+what, "peer", f.peer, "elapsed_ms", ms)
}
