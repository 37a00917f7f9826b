package daemon_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

func sealReply(t *testing.T, k *identity.Key, host identity.PublicKey, pid post.ID, text string, public bool) (*signedv1.Envelope, *postv1.Reply) {
	t.Helper()
	env, r, err := post.SealReply(k, post.ReplyDraft{Now: time.Now(), PostAuthor: host, PostID: pid, Text: text, Public: public})
	if err != nil {
		t.Fatal(err)
	}
	return env, r
}

func putReply(ctx context.Context, c syncv1.SyncServiceClient, env *signedv1.Envelope) error {
	_, err := c.PutConversation(ctx, &syncv1.PutConversationRequest{Record: &syncv1.PutConversationRequest_Reply{Reply: env}})
	return err
}

// TestPutConversationRules: only a friend who may see the post hands over a record, only
// their own, with the post's visibility; anything else is refused and nothing is stored.
func TestPutConversationRules(t *testing.T) {
	alice, bob, carol, eve := newPeer(t, "alice"), newPeer(t, "bob"), newPeer(t, "carol"), newPeer(t, "eve")
	befriend(t, alice, bob)
	befriend(t, alice, carol)
	for _, p := range []*peer{bob, carol, eve} {
		befriend(t, p, alice)
	}
	pid := alice.publish(t, "for bob only", feed.Audience{People: []identity.ID{bob.pub().ID()}})
	pub := alice.publish(t, "for everyone", feed.Audience{Public: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	genuine, gr := sealReply(t, bob.key, alice.pub(), pid, "bob's words", false)
	carolsOwn, _ := sealReply(t, carol.key, alice.pub(), pid, "carol was not asked", false)
	forged, _ := sealReply(t, carol.key, alice.pub(), pid, "I am bob", false)
	var fr postv1.Reply
	if _, err := signed.Open(forged, identity.ContextReply, &fr); err != nil {
		t.Fatal(err)
	}
	fr.Author = bob.pub().Bytes()
	forgedAsBob, err := signed.Seal(carol.key, identity.ContextReply, &fr)
	if err != nil {
		t.Fatal(err)
	}
	wrongVis, _ := sealReply(t, bob.key, alice.pub(), pid, "as if public", true)
	evesOnPublic, _ := sealReply(t, eve.key, alice.pub(), pub, "a stranger answers", true)
	unknown, _ := sealReply(t, bob.key, alice.pub(), post.ID{1}, "to nothing", false)
	notAlices, _ := sealReply(t, bob.key, carol.pub(), pid, "wrong host", false)

	cases := []struct {
		name string
		from *peer
		env  *signedv1.Envelope
		want codes.Code
	}{
		{"friend outside the audience", carol, carolsOwn, codes.NotFound},
		{"third party injects a forged reply", carol, forgedAsBob, codes.InvalidArgument},
		{"third party replays a genuine reply", carol, genuine, codes.PermissionDenied},
		{"stranger on a public post", eve, evesOnPublic, codes.PermissionDenied},
		{"visibility other than the post's", bob, wrongVis, codes.InvalidArgument},
		{"unknown post", bob, unknown, codes.NotFound},
		{"another host's post", bob, notAlices, codes.NotFound},
		{"empty envelope", bob, &signedv1.Envelope{}, codes.InvalidArgument},
	}
	for _, tc := range cases {
		err := putReply(ctx, tc.from.client(t, alice), tc.env)
		if status.Code(err) != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	for _, id := range []post.ID{pid, pub} {
		if recs, err := alice.st.Thread(alice.pub(), id); err != nil || len(recs) != 0 {
			t.Fatalf("after refused records, alice holds %d under %s (%v), want none", len(recs), id, err)
		}
	}

	// The genuine reply is taken, served to Bob, and not to Carol or Eve.
	if err := putReply(ctx, bob.client(t, alice), genuine); err != nil {
		t.Fatalf("genuine reply: %v", err)
	}
	// served returns how many replies and how many messages p is served.
	served := func(p *peer) (int, int) {
		t.Helper()
		stream, err := p.client(t, alice).GetConversations(ctx, &syncv1.GetConversationsRequest{PostIds: [][]byte{pid[:]}})
		if err != nil {
			t.Fatal(err)
		}
		replies, msgs := 0, 0
		for {
			msg, err := stream.Recv()
			if err != nil {
				return replies, msgs
			}
			replies, msgs = replies+len(msg.GetReplies()), msgs+1
		}
	}
	if r, _ := served(bob); r != 1 {
		t.Fatalf("bob is served %d replies, want 1", r)
	}
	for _, p := range []*peer{carol, eve} {
		if _, m := served(p); m != 0 {
			t.Fatalf("%s is served %d messages of a conversation it may not see", p.name, m)
		}
	}

	// Removed by the host: the same reply, or a newer version of it, is refused.
	if err := alice.st.RemoveReply(pid, bob.pub(), post.ID(gr.GetId())); err != nil {
		t.Fatal(err)
	}
	if err := putReply(ctx, bob.client(t, alice), genuine); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("re-submitting a removed reply: %v, want FailedPrecondition", err)
	}
	v2, _, err := post.SealReply(bob.key, post.ReplyDraft{ID: post.ID(gr.GetId()), Version: 2, Now: time.Now(), PostAuthor: alice.pub(), PostID: pid, Text: "again"})
	if err != nil {
		t.Fatal(err)
	}
	if err := putReply(ctx, bob.client(t, alice), v2); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a new version of a removed reply: %v, want FailedPrecondition", err)
	}
	if recs, _ := alice.st.Thread(alice.pub(), pid); len(recs) != 0 {
		t.Fatalf("alice holds %d records after removal, want 0", len(recs))
	}
}

// convoLiar is a friend's peer whose conversations are whatever the test says.
type convoLiar struct {
	lyingServer
	convo []*syncv1.GetConversationsResponse
}

func (s *convoLiar) GetConversations(_ *syncv1.GetConversationsRequest, stream syncv1.SyncService_GetConversationsServer) error {
	for _, m := range s.convo {
		if err := stream.Send(m); err != nil {
			return err
		}
	}
	return nil
}

// TestTamperedConversationRejected: a host serving a record that does not verify as
// its own author's, or that answers another post, fails the pull step; nothing of it
// is stored and the cursor stays.
func TestTamperedConversationRejected(t *testing.T) {
	host, bob, mallory := mustKey(t), mustKey(t), mustKey(t)
	p := payload(host.Public(), "the post")
	pid := post.ID(p.GetId())
	good, _ := sealReply(t, bob, host.Public(), pid, "bob's genuine reply", false)
	forgedPayload := &postv1.Reply{Id: make([]byte, 16), Author: bob.Public().Bytes(), PostAuthor: host.Public().Bytes(), PostId: pid[:],
		Version: 1, CreatedUnixMs: 1, UpdatedUnixMs: 1, Text: "words put in bob's mouth", Visibility: postv1.Visibility_VISIBILITY_PRIVATE}
	forged, err := signed.Seal(mallory, identity.ContextReply, forgedPayload)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := sealReply(t, bob, host.Public(), post.ID{9}, "meant for another post", false)
	flipped, _ := sealReply(t, bob, host.Public(), pid, "flipped", false)
	flipped.Payload[len(flipped.Payload)-1] ^= 1
	chunk := func(complete bool, envs ...*signedv1.Envelope) *syncv1.GetConversationsResponse {
		return &syncv1.GetConversationsResponse{PostId: pid[:], Replies: envs, Complete: complete}
	}
	cases := []struct {
		name  string
		convo []*syncv1.GetConversationsResponse
	}{
		{"reply signed by another key than its author", []*syncv1.GetConversationsResponse{chunk(true, good, forged)}},
		{"reply to another post", []*syncv1.GetConversationsResponse{chunk(true, good, other)}},
		{"flipped bit", []*syncv1.GetConversationsResponse{chunk(true, good, flipped)}},
		{"served twice", []*syncv1.GetConversationsResponse{chunk(true, good, good)}},
		{"never complete", []*syncv1.GetConversationsResponse{chunk(false, good)}},
		{"post not asked for", []*syncv1.GetConversationsResponse{{PostId: make([]byte, 16), Complete: true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := seal(t, host, p)
			srv := &convoLiar{lyingServer: lyingServer{ids: [][]byte{pid[:]}, posts: []*signedv1.Envelope{env}}, convo: tc.convo}
			addr := serveAs(t, host, srv)
			me := newPeer(t, "victim")
			befriendAt(t, me, host.Public(), addr.String())
			f, _ := me.st.Friend(host.Public())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if _, err := me.node.Sync(ctx, f); err == nil {
				t.Fatal("pull from a host serving a bad conversation succeeded")
			}
			if recs, _ := me.st.Thread(host.Public(), pid); len(recs) != 0 {
				t.Fatalf("victim stored %d conversation records", len(recs))
			}
			if n, _ := me.st.CountPosts(host.Public()); n != 0 {
				t.Fatalf("victim stored %d posts of the failed step", n)
			}
			if c, _ := me.st.Cursor(host.Public()); c != 0 {
				t.Fatalf("cursor moved to %d", c)
			}
		})
	}
	// The same server with only the genuine reply: stored, verified with Bob's key.
	env := seal(t, host, p)
	srv := &convoLiar{lyingServer: lyingServer{ids: [][]byte{pid[:]}, posts: []*signedv1.Envelope{env}}, convo: []*syncv1.GetConversationsResponse{chunk(true, good)}}
	addr := serveAs(t, host, srv)
	me := newPeer(t, "reader")
	befriendAt(t, me, host.Public(), addr.String())
	f, _ := me.st.Friend(host.Public())
	if _, err := me.node.Sync(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if recs, _ := me.st.Thread(host.Public(), pid); len(recs) != 1 || recs[0].Reply.GetText() != "bob's genuine reply" {
		t.Fatalf("reader holds %v, want bob's genuine reply", recs)
	}
}

func befriendAt(t *testing.T, p *peer, k identity.PublicKey, addr string) {
	t.Helper()
	if err := p.st.PutFriend(store.Friend{Key: k, Addr: addr}); err != nil {
		t.Fatal(err)
	}
}
