package syncer

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// threadOf is a post's thread on n: reply texts and reaction emoji with their versions.
func (n *node) threadOf(t testing.TB, author identity.PublicKey, id post.ID) map[string]uint64 {
	t.Helper()
	rs, err := n.st.Thread(author, id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, r := range rs {
		if r.Reply != nil {
			out["reply "+r.Reply.GetText()] = r.Reply.GetVersion()
		} else {
			out["reaction "+r.Reaction.GetEmoji()] = r.Reaction.GetVersion()
		}
	}
	return out
}

// TestOwnDevicesShareConversations: Bob's reply (with a photo) handed to Alice's first
// device and his reaction handed to her laptop reach the other device at the next
// own-device pull, photo included; Bob pulling the laptop alone sees both; pulls that
// change nothing store nothing and grow no log; a reply removed on the laptop is gone
// from the first device and refused there; only the person learns removals.
func TestOwnDevicesShareConversations(t *testing.T) {
	alice, bob := newNode(t, "alice", nil), newNode(t, "bob", nil)
	befriend(t, alice, bob)
	befriend(t, bob, alice)
	pid := alice.publish(t, "mine", feed.Default())
	laptop := joinDevice(t, alice, "laptop")
	ctx := ctxT(t)
	me := alice.pub()
	// One connection per pair, as a daemon keeps: a node takes few from one key.
	bobToAlice, bobToLaptop := bob.client(t, alice), ownClient(t, bob, laptop, me)
	laptopToAlice, aliceToLaptop := ownClient(t, laptop, alice, me), ownClient(t, alice, laptop, me)
	pull := func(n *node, c syncv1.SyncServiceClient, from *node) OwnResult {
		t.Helper()
		res, err := NewPuller(PullerConfig{Store: n.st, Logger: quiet()}).PullOwn(ctx, c, from.key.Public())
		if err != nil {
			t.Fatalf("%s pulls %s: %v", n.name, from.name, err)
		}
		return res
	}

	photo := bob.blob(t, randomBytes(t, 3000))
	reply := bob.replyWith(t, alice, pid, false, photo)
	if err := Deliver(ctx, bobToAlice, bob.st, reply); err != nil {
		t.Fatal(err)
	}
	if err := Deliver(ctx, bobToLaptop, bob.st, bob.react(t, alice, pid, "🎉", false)); err != nil {
		t.Fatal(err)
	}
	if res := pull(laptop, laptopToAlice, alice); res.Blobs != 1 {
		t.Fatalf("the laptop pulled %+v, want the reply's photo", res)
	}
	if got := laptop.threadOf(t, me, pid); len(got) != 2 || got["reply look"] != 1 || got["reaction 🎉"] != 1 {
		t.Fatalf("the laptop's thread: %v, want Bob's reply and its own reaction", got)
	}
	if !laptop.hasBlob(t, photo) {
		t.Fatal("the laptop lacks the reply's photo")
	}
	pull(alice, aliceToLaptop, laptop)
	if got := alice.threadOf(t, me, pid); len(got) != 2 || got["reaction 🎉"] != 1 {
		t.Fatalf("the first device's thread: %v, want the laptop's reaction too", got)
	}
	la, aa := laptop.lastSeq(t, laptop), alice.lastSeq(t, alice)
	pull(laptop, laptopToAlice, alice)
	pull(alice, aliceToLaptop, laptop)
	if laptop.lastSeq(t, laptop) != la || alice.lastSeq(t, alice) != aa {
		t.Fatal("pulls that changed nothing grew a log: the devices echo")
	}

	// Bob syncs from the laptop alone and sees his reply and reaction.
	if _, err := NewPuller(PullerConfig{Store: bob.st, Logger: quiet()}).Pull(ctx, bobToLaptop, me); err != nil {
		t.Fatal(err)
	}
	if got := bob.threadOf(t, me, pid); len(got) != 2 || got["reply look"] != 1 || got["reaction 🎉"] != 1 {
		t.Fatalf("Bob's thread from the laptop: %v, want his reply and reaction", got)
	}

	if err := laptop.st.RemoveReply(pid, bob.pub(), post.ID(reply.Reply.GetId())); err != nil {
		t.Fatal(err)
	}
	held, err := FetchConversations(ctx, bobToLaptop, me, []post.ID{pid}, nil, nil)
	if err != nil || len(held) != 1 || len(held[0].Removed) != 0 {
		t.Fatalf("Bob's fetch from the laptop: %d conversations, %v; want one naming no removals", len(held), err)
	}
	held, err = FetchConversations(ctx, aliceToLaptop, me, []post.ID{pid}, nil, nil)
	if err != nil || len(held) != 1 || len(held[0].Removed) != 1 || held[0].Removed[0].Author != bob.pub() {
		t.Fatalf("the person's fetch from the laptop: %d conversations, %v; want one naming Bob's reply removed", len(held), err)
	}
	pull(alice, aliceToLaptop, laptop)
	if got := alice.threadOf(t, me, pid); len(got) != 1 || got["reaction 🎉"] != 1 {
		t.Fatalf("the first device after the removal: %v, want the reaction alone", got)
	}
	err = Deliver(ctx, bobToAlice, bob.st, reply)
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("the removed reply handed to the first device again: %v, want FailedPrecondition", err)
	}
}

// TestOwnRemovalsInChunks: more removals than one message holds reach the person whole.
func TestOwnRemovalsInChunks(t *testing.T) {
	alice := newNode(t, "alice", nil)
	pid := alice.publish(t, "mine", feed.Default())
	laptop := joinDevice(t, alice, "laptop")
	refs := make([]store.ReplyRef, removedChunk+1)
	for i := range refs {
		refs[i] = store.ReplyRef{Author: alice.pub(), ID: post.ID{byte(i), byte(i >> 8), 7}}
	}
	if _, err := alice.st.ApplyOwn(laptop.key.Public(), store.OwnBatch{Cursor: 1, Conversations: []store.HeldConversation{{PostID: pid, Removed: refs}}}); err != nil {
		t.Fatal(err)
	}
	held, err := FetchConversations(ctxT(t), ownClient(t, laptop, alice, alice.pub()), alice.pub(), []post.ID{pid}, nil, nil)
	if err != nil || len(held) != 1 || len(held[0].Removed) != len(refs) {
		t.Fatalf("the person's fetch: %d conversations, %v; want one naming %d removals", len(held), err, len(refs))
	}
}

// TestOwnConversationsRefuseBadRemovals: a removed entry of the wrong length, or more
// than removedChunk in one message, fails the fetch with ErrTampered.
func TestOwnConversationsRefuseBadRemovals(t *testing.T) {
	var liar convoLiar
	alice := newNode(t, "alice", func(s *Server) syncv1.SyncServiceServer { liar.Server = s; return &liar })
	pid := alice.publish(t, "mine", feed.Default())
	laptop := joinDevice(t, alice, "laptop")
	const refLen = 32 + 16 // author key || reply id
	ref := make([]byte, refLen)
	c := ownClient(t, laptop, alice, alice.pub())
	for name, removed := range map[string][][]byte{
		"an entry too short":  {ref[:refLen-1]},
		"an entry too long":   {append(ref, 0)},
		"too many in one msg": make([][]byte, removedChunk+1),
	} {
		liar.send = func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			ms[len(ms)-1].Removed = removed
			return ms
		}
		for i := range removed {
			if removed[i] == nil {
				removed[i] = ref
			}
		}
		if _, err := NewPuller(PullerConfig{Store: laptop.st, Logger: quiet()}).PullOwn(ctxT(t), c, alice.pub()); !errors.Is(err, ErrTampered) {
			t.Errorf("%s: %v, want ErrTampered", name, err)
		}
	}
	liar.send = func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
		ms[len(ms)-1].Removed = make([][]byte, removedChunk)
		for i := range ms[len(ms)-1].Removed {
			ms[len(ms)-1].Removed[i] = ref
		}
		return ms
	}
	held, err := FetchConversations(ctxT(t), c, alice.pub(), []post.ID{pid}, nil, nil)
	if err != nil || len(held) != 1 || len(held[0].Removed) != removedChunk {
		t.Fatalf("%d removals in one message: %v, want them taken", removedChunk, err)
	}
	// A post's removals are bounded as its records are.
	full := &store.HeldConversation{PostID: pid, Removed: make([]store.ReplyRef, store.MaxRecordsPerPost-1)}
	if err := takeRemoved(full, [][]byte{ref}); err != nil || len(full.Removed) != store.MaxRecordsPerPost {
		t.Fatalf("removals up to the bound: %v", err)
	}
	if err := takeRemoved(full, [][]byte{ref}); err == nil {
		t.Fatal("a removal past MaxRecordsPerPost was taken")
	}
}
