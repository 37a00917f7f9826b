package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/kithnet/kith/peer/discovery"
	"github.com/kithnet/kith/peer/store"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// ErrPrivate means a peer that is not our friend publishes no addresses: its
// candidates are sealed for its friends (it runs without --publish-addresses, or has
// nothing public), so a stranger cannot reach it through the rendezvous.
var ErrPrivate = errors.New("publishes its addresses only to its friends (it runs without --publish-addresses, or has nothing public)")

// answerWait bounds how long a caller that cannot read a friend's sealed candidates
// waits for the friend's ANSWER before punching towards whatever pings it gets.
const answerWait = 2 * time.Second

// answerWaiter is an attempt waiting for the ANSWER of the friend it offered to.
type answerWaiter struct {
	from identity.PublicKey
	ch   chan discovery.Offer
}

// reachState is what the registration carries that can change without the candidates
// changing: the reachability key (rotated when a friend is removed) and whether the
// candidates are published in plain.
type reachState struct {
	key    string
	public bool
}

// reachKey is the person's current reachability key, for discovery to seal with.
func (t *traversal) reachKey() []byte {
	k, err := t.node.st.ReachKey()
	if err != nil {
		t.log.Warn("no reachability key: registering without candidates for friends", "err", err)
		return nil
	}
	return k
}

// publishes reports whether the candidates go in plain into the registration: only when
// the person asked for it (--publish-addresses) and has something public to show.
func (t *traversal) publishes() bool { return t.cfg.PublishAddresses && t.node.hasPublic() }

// refreshReach registers again when the reachability key or the choice to publish
// changed since the last look (a friend was removed, a first public post was made).
func (t *traversal) refreshReach() {
	now := reachState{key: string(t.reachKey()), public: t.publishes()}
	t.mu.Lock()
	changed := now != t.reach
	t.reach = now
	t.mu.Unlock()
	if changed {
		t.disc.Refresh()
	}
}

// watchReach registers again when own posts change (a first public post makes the
// candidates public under --publish-addresses; the last one made private hides them).
func (t *traversal) watchReach(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.node.st.Changed():
			t.refreshReach()
		}
	}
}

// peerCandidates are the addresses in peer's record that we may read: the public ones,
// and the sealed ones when peer gave us its current reachability key.
func (t *traversal) peerCandidates(peer identity.PublicKey, reg *rendezvousv1.Registration) []*rendezvousv1.Candidate {
	out := slices.Clone(reg.GetPublicCandidates())
	key, err := t.node.st.FriendReachKey(peer)
	if err != nil || key == nil {
		return out
	}
	cs, err := discovery.OpenReachability(key, reg)
	if err != nil {
		t.log.Info("a friend's sealed candidates do not open with the key it gave us (rotated since?); asking it for an answer", "friend", peer.ID())
		return out
	}
	return append(out, cs...)
}

// expectAnswer marks k, until done is called, as a peer that counts us as a friend though
// our store does not list it: a recovering home lost its friend list (and the
// reachability keys with it), so it offers to the friends it asks as a friend would and
// waits for their sealed ANSWER instead of giving up on their sealed candidates.
func (t *traversal) expectAnswer(k identity.PublicKey) (done func()) {
	t.mu.Lock()
	t.helpers[k]++
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.helpers[k]--; t.helpers[k] <= 0 {
			delete(t.helpers, k)
		}
	}
}

func (t *traversal) helping(k identity.PublicKey) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.helpers[k] > 0
}

// offer sends a CONNECT offer with a fresh punch secret to k and returns the
// candidates to punch towards: those of k's record we may read, else those of k's
// ANSWER (a friend answers with fresh candidates; we wait for it at most answerWait).
// A stranger whose record publishes nothing is not even offered to: ErrPrivate.
func (t *traversal) offer(ctx context.Context, k identity.PublicKey) (secret []byte, cands []netip.AddrPort, observed []netip.AddrPort, err error) {
	_, ferr := t.node.st.Friend(k)
	friend := ferr == nil || t.helping(k)
	if !friend {
		reg, err := t.disc.Lookup(ctx, k)
		if err != nil {
			return nil, nil, nil, err
		}
		if len(reg.GetPublicCandidates()) == 0 {
			return nil, nil, nil, fmt.Errorf("peer %s %w", k.Short(), ErrPrivate)
		}
	}
	secret = newNonce()
	wait := make(chan discovery.Offer, 1)
	t.mu.Lock()
	t.answers[string(secret)] = answerWaiter{from: k, ch: wait}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.answers, string(secret))
		t.mu.Unlock()
	}()
	reg, err := t.disc.Connect(ctx, k, rendezvousv1.OfferKind_OFFER_KIND_CONNECT, t.candidates(), secret)
	if err != nil {
		return nil, nil, nil, err
	}
	readable := t.peerCandidates(k, reg)
	if len(readable) == 0 && friend {
		select {
		case a := <-wait:
			readable = a.Offer.GetCandidates()
			if ap, err := netip.ParseAddrPort(a.Observed); err == nil {
				observed = append(observed, unmapped(ap))
			}
		case <-time.After(answerWait):
			t.log.Info("no answer from a friend in time; punching towards its pings only", "friend", k.ID())
		case <-ctx.Done():
			return nil, nil, nil, ctx.Err()
		}
	}
	return secret, addrs(readable, rendezvousv1.CandidateType_CANDIDATE_TYPE_HOST, rendezvousv1.CandidateType_CANDIDATE_TYPE_SERVER_REFLEXIVE), observed, nil
}

// answered hands a friend's ANSWER to the attempt that waits for it: only one whose
// secret matches and that offered to the key that signed the answer.
func (t *traversal) answered(o discovery.Offer) {
	t.mu.Lock()
	w, ok := t.answers[string(o.Offer.GetPunchSecret())]
	t.mu.Unlock()
	if !ok || w.from != o.From {
		t.log.Debug("ignored an answer nobody waits for", "from", o.From.ID())
		return
	}
	select {
	case w.ch <- o:
	default:
	}
}

// answer sends a friend who offered to connect our fresh candidates, signed and sealed
// to it, with the offer's punch secret: the friend may not hold our current
// reachability key (new, or we rotated it since).
func (t *traversal) answer(ctx context.Context, to identity.PublicKey, secret []byte) {
	if _, err := t.disc.Connect(ctx, to, rendezvousv1.OfferKind_OFFER_KIND_ANSWER, t.candidates(), secret); err != nil && ctx.Err() == nil {
		t.log.Info("could not answer a friend's offer", "friend", to.ID(), "err", err)
	}
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
	if n != nil && n.trav != nil {
		n.trav.refreshReach()
	}
}
