package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/syncer"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// parcelPoll is how often a kept-open connection reads the friend's parcel log again.
const parcelPoll = 20 * time.Second

// carrying is what the node remembers of carrying since it started.
type carrying struct {
	mu      sync.Mutex                    // guards refused
	refused map[identity.PublicKey]uint32 // parcels refused over quota, per friend
}

func (c *carrying) noteRefused(k identity.PublicKey, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refused == nil {
		c.refused = map[identity.PublicKey]uint32{}
	}
	c.refused[k] += uint32(n)
}

func (c *carrying) refusedFor(k identity.PublicKey) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refused[k]
}

// pullParcels reads f's parcel log once: posts addressed to this node are stored (their
// authors' signatures verified), the rest kept sealed for others within the policy.
// Failures are logged: parcels are a second path, the sync itself succeeded.
func (n *Node) pullParcels(ctx context.Context, c syncv1.SyncServiceClient, f store.Friend) *syncer.CarryResult {
	res, acks := n.readParcels(ctx, c, f)
	n.puller.AckCarrier(ctx, c, acks)
	return res
}

// readParcels is pullParcels that returns the acknowledgements f is still to be shown
// (Puller.AckCarrier) instead of waiting a round trip for them.
func (n *Node) readParcels(ctx context.Context, c syncv1.SyncServiceClient, f store.Friend) (*syncer.CarryResult, []*syncv1.ParcelAck) {
	key, err := n.st.Key()
	if err != nil {
		return nil, nil
	}
	pol := n.cfg.Carry.WithDefaults()
	res, acks, err := n.puller.ReadParcels(ctx, c, key, f.Key, pol)
	if err != nil {
		if ctx.Err() == nil {
			n.log.Warn("reading a friend's sealed parcels", "friend", f.Key.ID(), "err", err)
		}
		return nil, acks
	}
	if res.OverQuota != "" {
		n.carry.noteRefused(f.Key, len(res.CarryResult.Refused))
	}
	for author, k := range res.Stored {
		n.log.Info("carried posts stored", "author", author.ID(), "carrier", f.Key.ID(), "posts", k)
	}
	return &res, acks
}

// followParcels reads f's parcel log at once and then every parcelPoll, until ctx ends.
func (n *Node) followParcels(ctx context.Context, c syncv1.SyncServiceClient, f store.Friend) {
	for {
		n.pullParcels(ctx, c, f)
		select {
		case <-ctx.Done():
			return
		case <-time.After(parcelPoll):
		}
	}
}

// carryStatus is what `kith status` shows of carrying: sizes only, per friend.
func (n *Node) carryStatus(names map[identity.ID]string) (*localv1.CarryStatus, error) {
	pol := n.cfg.Carry.WithDefaults()
	cs := &localv1.CarryStatus{Enabled: !pol.Off, QuotaBytes: pol.Quota, RetentionSeconds: int64(pol.Retention / time.Second)}
	use, err := n.st.CarriedUsage()
	if err != nil {
		return nil, err
	}
	seen := map[identity.PublicKey]bool{}
	for _, u := range use {
		if u.Own {
			cs.OwnParcels, cs.OwnBytes = uint32(u.Parcels), u.Bytes
			continue
		}
		seen[u.From] = true
		cs.Friends = append(cs.Friends, &localv1.CarriedFor{Id: string(u.From.ID()), Name: names[u.From.ID()],
			Parcels: uint32(u.Parcels), Bytes: u.Bytes, Refused: n.carry.refusedFor(u.From)})
	}
	n.carry.mu.Lock()
	for k, r := range n.carry.refused {
		if !seen[k] {
			cs.Friends = append(cs.Friends, &localv1.CarriedFor{Id: string(k.ID()), Name: names[k.ID()], Refused: r})
		}
	}
	n.carry.mu.Unlock()
	return cs, nil
}

// carriedResults turns what a friend's parcels brought into `kith sync`'s lines.
func carriedResults(res *syncer.CarryResult, names map[identity.ID]string) ([]*localv1.CarriedPosts, uint32) {
	if res == nil {
		return nil, 0
	}
	var out []*localv1.CarriedPosts
	for a, k := range res.Stored {
		out = append(out, &localv1.CarriedPosts{AuthorId: string(a.ID()), AuthorName: names[a.ID()], Posts: uint32(k)})
	}
	return out, uint32(res.Refused)
}
