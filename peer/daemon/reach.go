package daemon

import (
	"context"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"net/netip"

	"github.com/kithnet/kith/peer/reach"
	"github.com/kithnet/kith/peer/store"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// ErrPrivate is reach.ErrPrivate: a stranger cannot reach a peer that publishes its
// addresses only to its friends.
var ErrPrivate = reach.ErrPrivate

// book is the node's store as reach sees it.
type book struct{ n *Node }

func (b book) IsFriend(k identity.PublicKey) bool { return b.n.isFriend(k) }
func (b book) FriendRequest(from identity.PublicKey, req *signedv1.Envelope) {
	b.n.takeFriendRequest(from, req)
}
func (b book) ReachKey() ([]byte, error) { return b.n.st.ReachKey() }
func (b book) FriendReachKey(k identity.PublicKey) ([]byte, error) {
	return b.n.st.FriendReachKey(k)
}
func (b book) HasPublic() bool          { return b.n.hasPublic() }
func (b book) Changed() <-chan struct{} { return b.n.st.Changed() }
func (b book) SetLastPath(k identity.PublicKey, a netip.AddrPort) error {
	return b.n.st.SetLastPath(k, a)
}
func (b book) LastPath(k identity.PublicKey) (netip.AddrPort, bool) { return b.n.st.LastPath(k) }

// hasPublic reports whether the person has a public post now.
func (n *Node) hasPublic() bool {
	self, err := n.st.Self()
	if err != nil {
		return false
	}
	found := false
	n.st.Posts(&self, func(p store.Stored) bool {
		found = isPublic(p.Payload)
		return !found
	})
	return found
}

// Dial connects to any peer by key, friend or not, the way the node reaches a friend: at
// addrHint when given, else (in rendezvous mode) through the rendezvous, punching and a
// relay. Tests reach strangers through it.
func (n *Node) Dial(ctx context.Context, key identity.PublicKey, addrHint string) (*reach.Conn, error) {
	return n.client(ctx, store.Friend{Key: key, Addr: addrHint})
}

// fetchReach keeps the friend's reachability key; failing to is logged, never fatal.
func (n *Node) fetchReach(ctx context.Context, c syncv1.SyncServiceClient, f store.Friend) {
	if err := n.puller.FetchReachability(ctx, c, f.Key); err != nil && ctx.Err() == nil {
		n.log.Info("could not keep a friend's reachability key", "friend", f.Key.ID(), "err", err)
	}
}

// Reregister registers again now when the registration's sealed or public part changed
// (after a friend was removed: the rotated key shuts the removed friend out at once).
func (n *Node) Reregister() {
	if n != nil {
		n.reach.Refresh()
	}
}
