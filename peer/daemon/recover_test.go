package daemon_test

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/daemon"
	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/recovery"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/syncer"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// local serves p's local API (the one the CLI uses) on a unix socket and returns a client.
func (p *peer) local(t *testing.T) localv1.LocalServiceClient {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "kith.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	localv1.RegisterLocalServiceServer(srv, daemon.NewLocal(p.st, p.node, daemon.NewSyncTimes(nil), nil))
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return localv1.NewLocalServiceClient(cc)
}

// recoverFrom runs `kith recover --from helper` on p and returns every message.
func (p *peer) recoverFrom(t *testing.T, helper *peer) []*localv1.RecoverResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream, err := p.local(t).Recover(ctx, &localv1.RecoverRequest{FromId: string(helper.key.ID()), Address: helper.node.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	var out []*localv1.RecoverResponse
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("recover: %v", err)
		}
		out = append(out, msg)
	}
}

// reborn is p after a lost disk: the same key in a new, empty home, on a new node.
func reborn(t *testing.T, p *peer) *peer {
	t.Helper()
	st, err := store.Open(store.Config{Home: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Init(p.key, p.name); err != nil {
		t.Fatal(err)
	}
	p.node.Close() // the old node is gone with the disk
	return &peer{name: p.name, key: p.key, st: st, node: startNode(t, st)}
}

// recoveryCase is a row of the recovery matrix: a post's audience, and which viewers
// may hold it after the author recovered.
type recoveryCase struct {
	name                          string
	audience                      func(in *peer) feed.Audience
	inside, outside, removed, str bool
	comesBack                     bool
}

var recoveryMatrix = []recoveryCase{
	{"group", func(*peer) feed.Audience { return feed.Audience{Groups: []string{"close"}} }, true, false, false, false, true},
	{"one person", func(in *peer) feed.Audience { return feed.Audience{People: []identity.ID{in.key.ID()}} }, true, false, false, false, true},
	{"me", func(*peer) feed.Audience { return feed.Audience{Me: true} }, false, false, false, false, false},
	{"public", func(*peer) feed.Audience { return feed.Audience{Public: true} }, true, true, true, true, true},
}

// The audience matrix across a recovery: (group, one person, me, public) x (in the
// audience, outside it, removed friend, stranger). The author posts, removes a friend
// (who held the group post), then loses the disk; one friend (outside) still holds an
// older kit that lists the removed friend. After `recover --from outside`, every post
// keeps exactly its audience, the removed friend stays removed and holds nothing
// private, the post for the author alone is named as lost, and nobody holds anything
// outside its audience: 0 leaks.
func TestAudienceMatrixAfterRecovery(t *testing.T) {
	author, inside, outside, stranger := matrixPeers(t)
	removed := newPeer(t, "removed")
	befriend(t, author, removed, "close")
	befriend(t, removed, author)
	ids := map[string]post.ID{}
	for _, c := range recoveryMatrix {
		ids[c.name] = author.publish(t, "post for "+c.name, c.audience(inside))
	}
	for _, p := range []*peer{inside, outside, removed, stranger} {
		p.sync(t, author) // each friend also takes the author's kit
	}
	if ok, _, _ := removed.holds(t, author, ids["group"]); !ok {
		t.Fatal("the friend to be removed did not get the group post before removal")
	}
	time.Sleep(5 * time.Millisecond) // the next kit revision is a later millisecond anyway
	if err := author.st.RemoveFriend(removed.pub()); err != nil {
		t.Fatal(err)
	}
	inside.sync(t, author) // inside takes the newest kit; outside keeps the older one
	removed.sync(t, author)
	if ok, _, _ := removed.holds(t, author, ids["group"]); ok {
		t.Fatal("the removed friend still holds the group post before the recovery")
	}

	author = reborn(t, author)
	for _, p := range []*peer{inside, outside, removed, stranger} {
		befriend(t, p, author) // the author's node listens elsewhere now
	}
	msgs := author.recoverFrom(t, outside)
	done := msgs[len(msgs)-1]
	if !done.GetDone() {
		t.Fatalf("last message is not the summary: %v", done)
	}
	if done.GetKitFrom() != string(inside.key.ID()) {
		t.Errorf("recovery used the kit of %.8s, want inside's (the newest)", done.GetKitFrom())
	}
	if _, err := author.st.Friend(removed.pub()); err == nil {
		t.Error("the removed friend came back with the recovery")
	}
	if len(done.GetLost()) != 1 || done.GetLost()[0].GetId() != ids["me"].String() || !strings.Contains(done.GetLost()[0].GetSummary(), "post for me") {
		t.Errorf("lost posts %v, want exactly the post for the author alone, named", done.GetLost())
	}
	back := map[string]uint32{}
	for _, m := range msgs[:len(msgs)-1] {
		back[m.GetFriendId()] += m.GetPosts()
	}
	if back[string(outside.key.ID())] != 1 || back[string(inside.key.ID())] != 2 {
		t.Errorf("posts back per friend: %v; want outside 1 (public), inside 2 (group, one person)", back)
	}

	// Every viewer pulls from the recovered author: each holds exactly its audience.
	viewers := []struct {
		p    *peer
		want func(recoveryCase) bool
	}{
		{inside, func(c recoveryCase) bool { return c.inside }},
		{outside, func(c recoveryCase) bool { return c.outside }},
		{removed, func(c recoveryCase) bool { return c.removed }},
		{stranger, func(c recoveryCase) bool { return c.str }},
	}
	for _, v := range viewers {
		v.p.sync(t, author)
		for _, c := range recoveryMatrix {
			got, _, _ := v.p.holds(t, author, ids[c.name])
			if got != v.want(c) {
				t.Errorf("after recovery %s holds the %q post: %v, want %v", v.p.name, c.name, got, v.want(c))
			}
		}
		may := func(name string) bool {
			i := slices.IndexFunc(recoveryMatrix, func(c recoveryCase) bool { return c.name == name })
			return i >= 0 && v.want(recoveryMatrix[i]) && recoveryMatrix[i].comesBack
		}
		assertFeed(t, v.p, author, ids, may, func(name string) bool { return v.p == removed && name == "group" })
	}
}

// Recovered posts that no kit names are kept for the author alone: never served wider.
func TestRecoveryWithoutKitFailsClosed(t *testing.T) {
	author, inside, outside, _ := matrixPeers(t)
	ids := map[string]post.ID{
		"group":   author.publish(t, "for the group", feed.Audience{Groups: []string{"close"}}),
		"friends": author.publish(t, "for all friends", feed.Default()),
	}
	// inside pulls the posts but takes no kit (as when no friend keeps one).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	puller := syncer.NewPuller(syncer.PullerConfig{Store: inside.st, Logger: quietLogger()})
	if _, err := puller.Pull(ctx, inside.client(t, author), author.pub()); err != nil {
		t.Fatal(err)
	}
	author = reborn(t, author)
	befriend(t, author, inside, "close")
	befriend(t, author, outside)
	befriend(t, inside, author)
	befriend(t, outside, author)
	msgs := author.recoverFrom(t, inside)
	done := msgs[len(msgs)-1]
	if done.GetPosts() != 2 || done.GetNarrowed() != 2 || done.GetKitFrom() != "" {
		t.Errorf("recovered %d, narrowed %d, kit from %q; want 2 posts back, both narrowed, no kit", done.GetPosts(), done.GetNarrowed(), done.GetKitFrom())
	}
	outside.sync(t, author)
	if n := outside.count(t, author); n != 0 {
		t.Errorf("outside holds %d posts recovered without a kit; want none", n)
	}
	assertFeedOnly(t, outside, author, ids, func(string) bool { return false })
}

// A change to what the kit holds reaches every connected friend without a new pull: a
// friend removed while another friend is connected is gone from the kit that friend
// keeps.
func TestKitPushedOnChange(t *testing.T) {
	author, friend, other := newPeer(t, "author"), newPeer(t, "friend"), newPeer(t, "other")
	befriend(t, author, friend)
	befriend(t, author, other)
	befriend(t, friend, author)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, p := range []*peer{author, friend} {
		go p.node.Follow(ctx)
	}
	held := func() recovery.Kit {
		env, err := friend.st.Kit(author.pub())
		if err != nil {
			return recovery.Kit{}
		}
		k, err := recovery.Open(env, author.key)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	waitFor(t, "the friend keeps a kit listing the other friend", func() bool { return len(held().Friends) == 2 })
	if err := author.st.RemoveFriend(other.pub()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the kit pushed after the removal", func() bool { return len(held().Friends) == 1 })
	id := author.publish(t, "just for me", feed.Audience{Me: true})
	waitFor(t, "the kit pushed after a post for the author alone", func() bool {
		return slices.ContainsFunc(held().Posts, func(p recovery.Post) bool { return p.ID == id })
	})
}

// Only a friend may push a kit, and only its own: a stranger is refused, a friend pushing
// someone else's kit is refused, and neither changes what the holder keeps.
func TestPushRecoveryKitRefusals(t *testing.T) {
	holder, friend, stranger := newPeer(t, "holder"), newPeer(t, "friend"), newPeer(t, "stranger")
	befriend(t, holder, friend)
	seal := func(p *peer) *signedv1.Envelope {
		env, err := recovery.Seal(p.key, recovery.Kit{Name: p.name, Created: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		from *peer
		kit  *signedv1.Envelope
		want codes.Code
	}{
		{"a stranger's own kit", stranger, seal(stranger), codes.PermissionDenied},
		{"a friend pushing a stranger's kit", friend, seal(stranger), codes.InvalidArgument},
		{"a friend pushing nothing", friend, nil, codes.InvalidArgument},
		{"a friend's own kit", friend, seal(friend), codes.OK},
	} {
		_, err := tc.from.client(t, holder).PushRecoveryKit(ctx, &syncv1.PushRecoveryKitRequest{Kit: tc.kit})
		if got := status.Code(err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := holder.st.Kit(stranger.pub()); err == nil {
		t.Error("the holder keeps a stranger's kit")
	}
	if _, err := holder.st.Kit(friend.pub()); err != nil {
		t.Errorf("the holder did not keep its friend's own kit: %v", err)
	}
}
