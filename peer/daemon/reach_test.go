package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/daemon"
	"github.com/kithnet/kith/peer/discovery"
	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/reach"
	"github.com/kithnet/kith/peer/store"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// lookupRecord is what anyone who knows k's ID gets from the rendezvous.
func lookupRecord(t *testing.T, c rendezvousv1.RendezvousServiceClient, k identity.PublicKey) *rendezvousv1.Registration {
	t.Helper()
	resp, err := c.Lookup(context.Background(), &rendezvousv1.LookupRequest{Fingerprint: string(k.Fingerprint())})
	if err != nil {
		t.Fatalf("lookup %s: %v", k.Short(), err)
	}
	var reg rendezvousv1.Registration
	if _, err := signed.OpenFromFingerprint(resp.GetRecord(), identity.ContextRegistration, k.Fingerprint(), &reg); err != nil {
		t.Fatal(err)
	}
	return &reg
}

// TestAddressesPrivateByDefault (issue 13, item 4): a person's candidates in the
// rendezvous are readable only by friends, who get the reachability key over sync (a
// first contact goes through the friend's sealed ANSWER); a stranger gets neither the
// key nor a way in; removing a friend rotates the key so the removed friend cannot read
// the next record; only a person who publishes (--publish-addresses, with a public
// post) is reachable by strangers.
func TestAddressesPrivateByDefault(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNAllowPrivate: true})
	servers := []string{rv.GRPC}
	look := rv.Client(t)
	a := newRendezvousPeer(t, "alice", servers, 0, 0)
	b := newRendezvousPeer(t, "bob", servers, 0, 0)
	eve := newRendezvousPeer(t, "eve", servers, 0, 0)
	for _, p := range [][2]*peer{{a, b}, {b, a}} {
		if err := p[0].st.PutFriend(store.Friend{Key: p[1].pub(), Name: p[1].name}); err != nil {
			t.Fatal(err)
		}
	}
	a.publish(t, "for anyone", feed.Audience{Public: true})
	id := a.publish(t, "for friends", feed.Audience{Friends: true})

	// Bob has no key yet: his first sync goes through Alice's answer, and brings the key.
	b.sync(t, a)
	if ok, _, _ := b.holds(t, a, id); !ok {
		t.Fatal("bob does not hold alice's post after a first sync through the rendezvous")
	}
	aKey, err := a.st.ReachKey()
	if err != nil {
		t.Fatal(err)
	}
	bHolds, err := b.st.FriendReachKey(a.pub())
	if err != nil || !bytes.Equal(bHolds, aKey) {
		t.Fatalf("bob holds %x, %v for alice; want her reachability key", bHolds, err)
	}
	reg := lookupRecord(t, look, a.pub())
	if len(reg.GetPublicCandidates()) != 0 {
		t.Fatalf("alice publishes %v without --publish-addresses", reg.GetPublicCandidates())
	}
	if cs, err := discovery.OpenReachability(bHolds, reg); err != nil || len(cs) == 0 {
		t.Fatalf("bob cannot read alice's candidates with her key: %v, %v", cs, err)
	}

	// Eve, a stranger, gets no key and no way in, however public Alice's posts are.
	_, err = eve.client(t, a).GetReachability(context.Background(), &syncv1.GetReachabilityRequest{})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a stranger asking for the reachability key: %v, want PermissionDenied", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := eve.node.Dial(ctx, a.pub(), ""); !errors.Is(err, daemon.ErrPrivate) {
		t.Fatalf("a stranger dialling a private peer by ID: %v, want ErrPrivate", err)
	}

	// Alice removes Bob: the key rotates and her next record shuts him out.
	if err := a.st.RemoveFriend(b.pub()); err != nil {
		t.Fatal(err)
	}
	a.node.Reregister()
	waitFor(t, "alice's record sealed under a new key", func() bool {
		_, err := discovery.OpenReachability(bHolds, lookupRecord(t, look, a.pub()))
		return errors.Is(err, discovery.ErrNoReachability)
	})
	if now, _ := a.st.ReachKey(); bytes.Equal(now, aKey) {
		t.Fatal("the reachability key did not change when a friend was removed")
	}

	// A person who publishes is reachable by strangers, public posts only.
	pub := newRendezvousPeerWith(t, "pub", reach.Config{Servers: servers, PublishAddresses: true})
	pub.publish(t, "public from pub", feed.Audience{Public: true})
	waitFor(t, "pub's record with plain candidates", func() bool {
		return len(lookupRecord(t, look, pub.pub()).GetPublicCandidates()) > 0
	})
	cc, err := eve.node.Dial(ctx, pub.pub(), "")
	if err != nil {
		t.Fatalf("a stranger dialling a peer that publishes: %v", err)
	}
	defer cc.Close()
	if _, err := syncv1.NewSyncServiceClient(cc).GetProfile(ctx, &syncv1.GetProfileRequest{}); err != nil {
		t.Fatalf("a stranger's call on the path it reached: %v", err)
	}
}
