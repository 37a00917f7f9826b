package daemon

import (
	"context"
	"time"

	"google.golang.org/grpc"

	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/shared/identity"
)

// strangerOffersPerMinute bounds how many strangers' offers a node answers by punching:
// an offer makes the node send packets to addresses the stranger chose.
const strangerOffersPerMinute = 20

// answerStranger decides whether to answer an offer from a key that is not a friend: only
// when this person publishes addresses (--publish-addresses) and has a public post (a stranger sees nothing else, so with nothing public
// there is no reason to let one in), and at most strangerOffersPerMinute a minute.
func (t *traversal) answerStranger() bool {
	// The budget is checked before the scan for a public post, so offers past it cost
	// nothing; it is spent only on offers answered.
	if !t.cfg.PublishAddresses || !t.strangerBudget(false) || !t.node.hasPublic() {
		return false
	}
	return t.strangerBudget(true)
}

// strangerBudget reports whether this minute's budget of strangers' offers has room,
// and with spend takes one from it.
func (t *traversal) strangerBudget(spend bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if now.Sub(t.strangerWindow) >= time.Minute {
		t.strangerWindow, t.strangers = now, 0
	}
	if t.strangers >= strangerOffersPerMinute {
		return false
	}
	if spend {
		t.strangers++
	}
	return true
}

// hasPublic reports whether the person has a public post now.
func (n *Node) hasPublic() bool {
	k, err := n.st.Key()
	if err != nil {
		return false
	}
	self := k.Public()
	found := false
	n.st.Posts(&self, func(p store.Stored) bool {
		found = isPublic(p.Payload)
		return !found
	})
	return found
}

// Dial connects to any peer by key, friend or not, the way the node reaches a friend: at
// addrHint when given, else (in rendezvous mode) through the rendezvous, punching and a
// relay. The reference crawler reaches peers through it.
func (n *Node) Dial(ctx context.Context, key identity.PublicKey, addrHint string) (*grpc.ClientConn, error) {
	return n.client(ctx, store.Friend{Key: key, Addr: addrHint})
}
