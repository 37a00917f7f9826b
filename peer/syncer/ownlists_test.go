package syncer

import (
	"errors"
	"slices"
	"testing"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/store"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
)

// TestOwnRemovalsReachEveryDevice: Alice removes Bob on her first device and takes
// carol out of a group; the laptop pulls and drops Bob (the pull reports it) and
// regroups carol; Bob, pulling the laptop afterwards, is told to drop Alice's
// friends-only post and gets her next one from neither device; the laptop's stale
// lists served back do not bring Bob back on the first device; a group the laptop
// removes reaches the first device.
func TestOwnRemovalsReachEveryDevice(t *testing.T) {
	alice, bob := newNode(t, "alice", nil), newNode(t, "bob", nil)
	befriend(t, alice, bob, "family")
	befriend(t, bob, alice)
	carol := newKey(t).Public()
	if err := alice.st.PutFriend(store.Friend{Key: carol, Name: "carol", Groups: []string{"family", "work"}}); err != nil {
		t.Fatal(err)
	}
	old := alice.publish(t, "for friends, before", feed.Default())
	laptop := joinDevice(t, alice, "laptop")
	p := NewPuller(PullerConfig{Store: bob.st, Logger: quiet()})
	fromLaptop := func() Result {
		t.Helper()
		cc, err := bob.tr.Client(laptop.tr.Addr(), alice.pub())
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		res, err := p.Pull(ctxT(t), syncv1.NewSyncServiceClient(cc), alice.pub())
		if err != nil {
			t.Fatalf("bob pulls the laptop: %v", err)
		}
		return res
	}
	toLaptop, toAlice := ownClient(t, alice, laptop, alice.pub()), ownClient(t, laptop, alice, alice.pub())
	own := func(c syncv1.SyncServiceClient, n, from *node) OwnResult {
		t.Helper()
		res, err := NewPuller(PullerConfig{Store: n.st, Logger: quiet()}).PullOwn(ctxT(t), c, from.key.Public())
		if err != nil {
			t.Fatalf("%s pulls %s: %v", n.name, from.name, err)
		}
		return res
	}
	fromLaptop()
	if bob.holds(t, alice, old) != 1 {
		t.Fatal("bob did not get the friends-only post from the laptop while a friend")
	}

	if err := alice.st.RemoveFriend(bob.pub()); err != nil {
		t.Fatal(err)
	}
	if err := alice.st.PutFriend(store.Friend{Key: carol, Name: "carol", Groups: []string{"work"}}); err != nil {
		t.Fatal(err)
	}
	// The laptop's stale lists reach the first device before it learns anything.
	own(toLaptop, alice, laptop)
	if _, err := alice.st.Friend(bob.pub()); !errors.Is(err, store.ErrNotFriend) {
		t.Fatalf("the laptop's stale list brought bob back on the first device: %v", err)
	}
	if res := own(toAlice, laptop, alice); res.Removed != 1 {
		t.Fatalf("the laptop's pull: %+v; want one friend removed", res)
	}
	if _, err := laptop.st.Friend(bob.pub()); !errors.Is(err, store.ErrNotFriend) {
		t.Fatalf("bob on the laptop: %v; want no friend", err)
	}
	if f, _ := laptop.st.Friend(carol); len(f.Groups) != 1 || f.Groups[0] != "work" {
		t.Fatalf("carol on the laptop is in %v, want work only", f.Groups)
	}
	fresh := laptop.publish(t, "for friends, after", feed.Default())
	own(toLaptop, alice, laptop)
	fromLaptop()
	if bob.holds(t, alice, old) != 0 || bob.holds(t, alice, fresh) != 0 {
		t.Fatalf("bob holds %d/%d of alice's friends-only posts from the laptop after his removal; want none",
			bob.holds(t, alice, old), bob.holds(t, alice, fresh))
	}

	// A group removed on the laptop reaches the first device.
	if err := laptop.st.RemoveGroup("work"); err != nil {
		t.Fatal(err)
	}
	own(toLaptop, alice, laptop)
	if gs, _ := alice.st.Groups(); slices.Contains(gs, "work") {
		t.Fatalf("the first device's groups %v still hold work", gs)
	}
	if f, _ := alice.st.Friend(carol); len(f.Groups) != 0 {
		t.Fatalf("carol on the first device is in %v, want none", f.Groups)
	}
}
