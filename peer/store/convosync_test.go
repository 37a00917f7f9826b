package store

import (
	"bytes"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	"github.com/kithnet/kith/shared/identity"
)

// ownConvoT serves what another device of person serves to the person with
// GetConversations (store side): every record of the own post and its removed replies.
func ownConvoT(t *testing.T, from *Store, person identity.PublicKey, pid post.ID) HeldConversation {
	t.Helper()
	hc := HeldConversation{PostID: pid}
	err := from.Conversation(person, pid, 100, func(rs []Record) error {
		for _, r := range rs {
			if r.Reply != nil {
				hc.Replies = append(hc.Replies, VerifiedReply{Envelope: r.Envelope, Reply: r.Reply})
			} else {
				hc.Reactions = append(hc.Reactions, VerifiedReaction{Envelope: r.Envelope, Reaction: r.Reaction})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if hc.Removed, err = from.RemovedReplies(person, pid); err != nil {
		t.Fatal(err)
	}
	return hc
}

// ownPullT is one own-device pull of from (whose key is fromKey) into to, as
// syncer.PullOwn does it, conversations included. It reports whether to's log grew.
func ownPullT(t *testing.T, from, to *Store, fromKey, person identity.PublicKey) bool {
	t.Helper()
	cur, err := to.Cursor(fromKey)
	must(t, err)
	pg, err := from.OwnSince(cur, 500)
	must(t, err)
	b := OwnBatch{Cursor: pg.Last}
	for _, e := range pg.Posts {
		p, _, err := post.OpenChain(e.Envelope, person, nil)
		must(t, err)
		b.Posts = append(b.Posts, OwnVerified{Envelope: e.Envelope, Payload: p, Audience: e.Audience})
		b.Conversations = append(b.Conversations, ownConvoT(t, from, person, post.ID(p.GetId())))
	}
	before, _ := to.LastSeq()
	if _, err := to.ApplyOwn(fromKey, b); err != nil {
		t.Fatal(err)
	}
	after, _ := to.LastSeq()
	return after != before
}

// threadT is a post's thread on s as "kind author version" strings.
func threadT(t *testing.T, s *Store, person identity.PublicKey, pid post.ID) map[string]uint64 {
	t.Helper()
	rs, err := s.Thread(person, pid)
	must(t, err)
	out := map[string]uint64{}
	for _, r := range rs {
		if r.Reply != nil {
			out["reply "+string(r.Reply.GetText())] = r.Reply.GetVersion()
		} else {
			out["reaction "+r.Reaction.GetEmoji()] = r.Reaction.GetVersion()
		}
	}
	return out
}

// devicesWithBobT: the person's first home and a joined laptop, both with friend Bob,
// and a post of the first home that the laptop holds too.
func devicesWithBobT(t *testing.T) (first, laptop *Store, alice, dev, bob *identity.Key, pid post.ID) {
	t.Helper()
	first, laptop, alice, dev = joinT(t)
	bob = newKey(t)
	for _, s := range []*Store{first, laptop} {
		must(t, s.PutFriend(Friend{Key: bob.Public(), Name: "bob"}))
	}
	pid, err := first.Publish(NewPost{Text: "mine", Audience: feed.Default()})
	must(t, err)
	ownPullT(t, first, laptop, alice.Public(), alice.Public())
	if _, err := laptop.Post(alice.Public(), pid); err != nil {
		t.Fatalf("the laptop lacks the post: %v", err)
	}
	return first, laptop, alice, dev, bob, pid
}

func bobReplyT(t *testing.T, bob *identity.Key, person identity.PublicKey, pid, rid post.ID, v uint64, text string) (*postv1.Reply, func(*Store) error) {
	t.Helper()
	env, r := sealReply(t, bob, post.ReplyDraft{ID: rid, Version: v, PostAuthor: person, PostID: pid, Text: text})
	return r, func(s *Store) error { _, err := s.HostReply(bob.Public(), env, r); return err }
}

// TestOwnDevicesMergeConversations: records each device hosts reach the other in both
// orders (merge, not replace); the higher version wins either way; a removal made on
// one device removes the reply on the other and stays a refusal there, also against a
// copy served by a device that lacks the removal; and a pull that changes nothing
// makes no log entry, so the devices settle.
func TestOwnDevicesMergeConversations(t *testing.T) {
	first, laptop, alice, dev, bob, pid := devicesWithBobT(t)
	me := alice.Public()
	rid := post.ID{1}
	_, host := bobReplyT(t, bob, me, pid, rid, 1, "v1")
	must(t, host(first))
	renv, rr := sealReaction(t, bob, post.ReactionDraft{PostAuthor: me, PostID: pid, Version: 1, Emoji: "👍"})
	if _, err := laptop.HostReaction(bob.Public(), renv, rr); err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"reply v1": 1, "reaction 👍": 1}
	if !ownPullT(t, first, laptop, me, me) {
		t.Error("the laptop took a new reply without a log entry")
	}
	if got := threadT(t, laptop, me, pid); len(got) != 2 || got["reply v1"] != 1 || got["reaction 👍"] != 1 {
		t.Fatalf("laptop after pulling first: %v, want %v (its own reaction kept)", got, want)
	}
	if !ownPullT(t, laptop, first, dev.Public(), me) {
		t.Error("first took a new reaction without a log entry")
	}
	if got := threadT(t, first, me, pid); len(got) != 2 || got["reaction 👍"] != 1 {
		t.Fatalf("first after pulling the laptop: %v, want %v", got, want)
	}
	if ownPullT(t, first, laptop, me, me) || ownPullT(t, laptop, first, dev.Public(), me) {
		t.Fatal("pulls that change nothing made log entries: the devices echo")
	}

	// A newer version on the laptop wins on first; an older one served later changes nothing.
	_, host = bobReplyT(t, bob, me, pid, rid, 2, "v2")
	must(t, host(laptop))
	old := ownConvoT(t, first, me, pid) // first's copy, still version 1
	if !ownPullT(t, laptop, first, dev.Public(), me) {
		t.Error("first took version 2 without a log entry")
	}
	if got := threadT(t, first, me, pid); got["reply v2"] != 2 || len(got) != 2 {
		t.Fatalf("first after the edit: %v, want version 2", got)
	}
	before, _ := laptop.LastSeq()
	must(t, laptop.update(func(tx *bolt.Tx) error {
		return laptop.mergeOwnConversations(tx, []HeldConversation{old}, new([][]byte))
	}))
	if after, _ := laptop.LastSeq(); after != before || threadT(t, laptop, me, pid)["reply v2"] != 2 {
		t.Fatalf("an older version served: log %d -> %d, thread %v; want nothing changed", before, after, threadT(t, laptop, me, pid))
	}
	ownPullT(t, first, laptop, me, me)

	// A removal on the laptop reaches first and sticks on both.
	must(t, laptop.RemoveReply(pid, bob.Public(), rid))
	stale := ownConvoT(t, first, me, pid) // first still hosts the reply
	if !ownPullT(t, laptop, first, dev.Public(), me) {
		t.Error("first removed a reply without a log entry")
	}
	if got := threadT(t, first, me, pid); len(got) != 1 || got["reaction 👍"] != 1 {
		t.Fatalf("first after the removal: %v, want the reaction alone", got)
	}
	_, host = bobReplyT(t, bob, me, pid, rid, 3, "v3")
	for name, s := range map[string]*Store{"first": first, "laptop": laptop} {
		if err := host(s); !errors.Is(err, ErrRemoved) {
			t.Errorf("%s hosting the removed reply again: %v, want ErrRemoved", name, err)
		}
	}
	before, _ = laptop.LastSeq()
	must(t, laptop.update(func(tx *bolt.Tx) error {
		return laptop.mergeOwnConversations(tx, []HeldConversation{stale}, new([][]byte))
	}))
	if after, _ := laptop.LastSeq(); after != before || len(threadT(t, laptop, me, pid)) != 1 {
		t.Fatalf("a copy from before the removal: log %d -> %d, thread %v; want the reply still removed", before, after, threadT(t, laptop, me, pid))
	}
	if ownPullT(t, first, laptop, me, me) || ownPullT(t, laptop, first, dev.Public(), me) {
		t.Fatal("after the removal the devices echo")
	}
	if refs, _ := first.RemovedReplies(bob.Public(), pid); refs != nil {
		t.Fatalf("RemovedReplies to Bob: %v, want none (the person's devices alone learn them)", refs)
	}
	if refs, _ := first.RemovedReplies(me, pid); len(refs) != 1 || refs[0] != (ReplyRef{Author: bob.Public(), ID: rid}) {
		t.Fatalf("RemovedReplies to the person: %v, want Bob's reply", refs)
	}
}

// TestOwnConversationsRefuseBadInput: a record of another person's post, of another
// own post than the one it came with, a reply whose photo is not here, a conversation
// past the limits: ApplyOwn fails with a clear error and stores nothing of the batch
// (neither its posts nor its cursor). A conversation of a post not held is skipped.
func TestOwnConversationsRefuseBadInput(t *testing.T) {
	first, laptop, alice, _, bob, pid := devicesWithBobT(t)
	me := alice.Public()
	other, err := first.Publish(NewPost{Text: "another", Audience: feed.Default()})
	must(t, err)
	ownPullT(t, first, laptop, me, me)
	carol := newKey(t)
	reply := func(host identity.PublicKey, to post.ID, atts ...*postv1.Attachment) VerifiedReply {
		env, r := replyT(t, bob, host, to, post.ID{9}, 1, false, atts...)
		return VerifiedReply{Envelope: env, Reply: r}
	}
	renv, rr := sealReaction(t, bob, post.ReactionDraft{PostAuthor: carol.Public(), PostID: pid, Version: 1, Emoji: "👍"})
	missing := &postv1.Attachment{Sha256: bytes.Repeat([]byte{7}, 32), Size: 5}
	refs := make([]ReplyRef, MaxRecordsPerPost+1)
	newPost, err := laptop.Publish(NewPost{Text: "new on the laptop"})
	must(t, err)
	lpg, err := laptop.OwnSince(0, 500)
	must(t, err)
	var carried OwnVerified
	for _, e := range lpg.Posts {
		p, _, err := post.OpenChain(e.Envelope, me, nil)
		must(t, err)
		if post.ID(p.GetId()) == newPost {
			carried = OwnVerified{Envelope: e.Envelope, Payload: p, Audience: e.Audience}
		}
	}
	for _, c := range []struct {
		name string
		hc   HeldConversation
		want error
	}{
		{"a reply to another person's post", HeldConversation{PostID: pid, Replies: []VerifiedReply{reply(carol.Public(), pid)}}, ErrForeignRecord},
		{"a reply to another own post", HeldConversation{PostID: pid, Replies: []VerifiedReply{reply(me, other)}}, ErrForeignRecord},
		{"a reaction to another person's post", HeldConversation{PostID: pid, Reactions: []VerifiedReaction{{Envelope: renv, Reaction: rr}}}, ErrForeignRecord},
		{"a reply without its photo", HeldConversation{PostID: pid, Replies: []VerifiedReply{reply(me, pid, missing)}}, ErrBlobMissing},
		{"too many removals", HeldConversation{PostID: pid, Removed: refs}, ErrConversationFull},
	} {
		before, _ := first.LastSeq()
		cur, _ := first.Cursor(alice.Public())
		b := OwnBatch{Cursor: cur + 100, Posts: []OwnVerified{carried}, Conversations: []HeldConversation{c.hc}}
		if _, err := first.ApplyOwn(alice.Public(), b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		after, _ := first.LastSeq()
		now, _ := first.Cursor(alice.Public())
		if _, perr := first.Post(me, newPost); after != before || now != cur || perr == nil {
			t.Errorf("%s: log %d -> %d, cursor %d -> %d, post stored %v: want nothing changed", c.name, before, after, cur, now, perr == nil)
		}
		if len(threadT(t, first, me, pid)) != 0 {
			t.Errorf("%s: a record was kept", c.name)
		}
	}
	// A conversation of a post this device does not hold is skipped, not an error.
	if _, err := first.ApplyOwn(alice.Public(), OwnBatch{Cursor: 1, Conversations: []HeldConversation{{PostID: post.ID{5}, Replies: []VerifiedReply{reply(me, post.ID{5})}}}}); err != nil {
		t.Fatalf("a conversation of a post not held: %v", err)
	}
}

// TestOwnConversationsPerPersonLimit: a merge that would give one person more than
// MaxRepliesPerPerson replies under a post is refused; up to it is taken.
func TestOwnConversationsPerPersonLimit(t *testing.T) {
	first, _, alice, _, bob, pid := devicesWithBobT(t)
	me := alice.Public()
	hc := HeldConversation{PostID: pid}
	for i := range MaxRepliesPerPerson {
		env, r := replyT(t, bob, me, pid, post.ID{byte(i), byte(i >> 8), 1}, 1, false)
		hc.Replies = append(hc.Replies, VerifiedReply{Envelope: env, Reply: r})
	}
	if _, err := first.ApplyOwn(alice.Public(), OwnBatch{Cursor: 1, Conversations: []HeldConversation{hc}}); err != nil {
		t.Fatalf("%d replies of one person: %v", MaxRepliesPerPerson, err)
	}
	env, r := replyT(t, bob, me, pid, post.ID{0, 0, 2}, 1, false)
	hc.Replies = []VerifiedReply{{Envelope: env, Reply: r}}
	if _, err := first.ApplyOwn(alice.Public(), OwnBatch{Cursor: 2, Conversations: []HeldConversation{hc}}); !errors.Is(err, ErrConversationFull) {
		t.Fatalf("one reply more: %v, want ErrConversationFull", err)
	}
	// Another person's reply still fits: the bound is per person.
	env, r = replyT(t, newKey(t), me, pid, post.ID{0, 0, 3}, 1, false)
	hc.Replies = []VerifiedReply{{Envelope: env, Reply: r}}
	if _, err := first.ApplyOwn(alice.Public(), OwnBatch{Cursor: 3, Conversations: []HeldConversation{hc}}); err != nil {
		t.Fatalf("another person's reply: %v", err)
	}
}

// TestOwnConversationsEveryPost: one batch merges the conversations of every post in
// it, not only the first that changed; a post may name up to MaxRecordsPerPost
// removals.
func TestOwnConversationsEveryPost(t *testing.T) {
	first, _, alice, _, bob, pid := devicesWithBobT(t)
	me := alice.Public()
	other, err := first.Publish(NewPost{Text: "another", Audience: feed.Default()})
	must(t, err)
	var cs []HeldConversation
	for _, id := range []post.ID{pid, other} {
		env, r := replyT(t, bob, me, id, post.ID{4}, 1, false)
		cs = append(cs, HeldConversation{PostID: id, Replies: []VerifiedReply{{Envelope: env, Reply: r}}})
	}
	if _, err := first.ApplyOwn(alice.Public(), OwnBatch{Cursor: 1, Conversations: cs}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []post.ID{pid, other} {
		if got := threadT(t, first, me, id); len(got) != 1 {
			t.Errorf("post %s after a batch of two conversations: %v, want Bob's reply", id, got)
		}
	}
	refs := make([]ReplyRef, MaxRecordsPerPost)
	for i := range refs {
		refs[i] = ReplyRef{Author: bob.Public(), ID: post.ID{byte(i), byte(i >> 8), byte(i >> 16), 9}}
	}
	if _, err := first.ApplyOwn(alice.Public(), OwnBatch{Cursor: 2, Conversations: []HeldConversation{{PostID: pid, Removed: refs}}}); err != nil {
		t.Fatalf("%d removals: %v", MaxRecordsPerPost, err)
	}
	if got, _ := first.RemovedReplies(me, pid); len(got) != MaxRecordsPerPost {
		t.Fatalf("%d removals held, want %d", len(got), MaxRecordsPerPost)
	}
}
