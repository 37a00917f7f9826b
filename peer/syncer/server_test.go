package syncer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/profile"
	"github.com/kithnet/kith/peer/recovery"
	"github.com/kithnet/kith/peer/store"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

func wantCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Errorf("%s: %v (code %v), want code %v", what, err, got, want)
	}
}

// TestUnauthenticatedCallerGetsNothing: when the transport names no caller, every call
// is refused before it reads the store.
func TestUnauthenticatedCallerGetsNothing(t *testing.T) {
	n := newNode(t, "author", nil)
	other := newNode(t, "other", nil)
	befriend(t, n, other)
	n.publish(t, "public", feed.Audience{Public: true})
	n.srv.caller = func(context.Context) (identity.PublicKey, bool) { return identity.PublicKey{}, false }
	c := other.client(t, n)
	ctx := ctxT(t)
	_, err := c.Changes(ctx, &syncv1.ChangesRequest{})
	wantCode(t, "Changes", err, codes.Unauthenticated)
	_, err = c.GetPosts(ctx, &syncv1.GetPostsRequest{})
	wantCode(t, "GetPosts", err, codes.Unauthenticated)
	_, err = c.GetRecoveryKit(ctx, &syncv1.GetRecoveryKitRequest{})
	wantCode(t, "GetRecoveryKit", err, codes.Unauthenticated)
	_, err = c.GetProfile(ctx, &syncv1.GetProfileRequest{})
	wantCode(t, "GetProfile", err, codes.Unauthenticated)
	bs, err := c.GetBlob(ctx, &syncv1.GetBlobRequest{Sha256: make([]byte, 32)})
	if err == nil {
		_, err = bs.Recv()
	}
	wantCode(t, "GetBlob", err, codes.Unauthenticated)
	ws, err := c.Watch(ctx, &syncv1.WatchRequest{})
	if err == nil {
		_, err = ws.Recv()
	}
	wantCode(t, "Watch", err, codes.Unauthenticated)
	rs, err := c.Recover(ctx, &syncv1.RecoverRequest{})
	if err == nil {
		_, err = rs.Recv()
	}
	wantCode(t, "Recover", err, codes.Unauthenticated)
	_, err = c.PushRecoveryKit(ctx, &syncv1.PushRecoveryKitRequest{})
	wantCode(t, "PushRecoveryKit", err, codes.Unauthenticated)
	_, err = c.GetReachability(ctx, &syncv1.GetReachabilityRequest{})
	wantCode(t, "GetReachability", err, codes.Unauthenticated)
	cs, err := c.GetConversations(ctx, &syncv1.GetConversationsRequest{})
	if err == nil {
		_, err = cs.Recv()
	}
	wantCode(t, "GetConversations", err, codes.Unauthenticated)
	_, err = c.PutConversation(ctx, &syncv1.PutConversationRequest{})
	wantCode(t, "PutConversation", err, codes.Unauthenticated)
	_, err = c.RequestFriendship(ctx, &syncv1.RequestFriendshipRequest{})
	wantCode(t, "RequestFriendship", err, codes.Unauthenticated)
}

// TestGetPostsArguments: too many ids or a malformed one are refused; answers stay
// under MaxAnswer bytes, and the post left out is had by asking again.
func TestGetPostsArguments(t *testing.T) {
	author, reader := newNode(t, "author", nil), newNode(t, "reader", nil)
	befriend(t, author, reader)
	c := reader.client(t, author)
	ctx := ctxT(t)
	_, err := c.GetPosts(ctx, &syncv1.GetPostsRequest{Ids: make([][]byte, MaxIDs+1)})
	wantCode(t, "MaxIDs+1 ids", err, codes.InvalidArgument)
	_, err = c.GetPosts(ctx, &syncv1.GetPostsRequest{Ids: [][]byte{make([]byte, 16), make([]byte, 15)}})
	wantCode(t, "a 15-byte id", err, codes.InvalidArgument)
	zeros := make([][]byte, MaxIDs)
	for i := range zeros {
		zeros[i] = make([]byte, 16)
	}
	if resp, err := c.GetPosts(ctx, &syncv1.GetPostsRequest{Ids: zeros}); err != nil || len(resp.Posts) != 0 {
		t.Errorf("MaxIDs unknown ids: %d posts, %v; want none, no error", len(resp.GetPosts()), err)
	}

	big := strings.Repeat("w", post.MaxText-100)
	var ids [][]byte
	for i := range MaxAnswer/post.MaxText + 2 {
		id := author.publish(t, fmt.Sprintf("%d %s", i, big), feed.Default())
		ids = append(ids, id[:])
	}
	resp, err := c.GetPosts(ctx, &syncv1.GetPostsRequest{Ids: ids})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.Posts); n == 0 || n >= len(ids) || proto.Size(resp) > MaxAnswer {
		t.Errorf("answer of %d posts, %d bytes; want some but not all %d, at most %d bytes", n, proto.Size(resp), len(ids), MaxAnswer)
	}
	if n := len(resp.Posts); n < MaxAnswer/(post.MaxText+1000) {
		t.Errorf("answer of only %d posts of %d bytes: the answer is cut too early", n, post.MaxText)
	}
	var want []post.ID
	for _, id := range ids {
		want = append(want, post.ID(id))
	}
	got, err := FetchPosts(ctx, c, author.pub(), want, nil)
	if err != nil || len(got) != len(ids) {
		t.Errorf("FetchPosts of %d large posts: %d, %v", len(ids), len(got), err)
	}
}

// TestGetBlobAnswers: chunks cover the blob from the asked offset, an empty blob is one
// empty chunk, an offset past the end is out of range, and a blob the caller may not see
// answers exactly like one that does not exist.
func TestGetBlobAnswers(t *testing.T) {
	author, reader := newNode(t, "author", nil), newNode(t, "reader", nil)
	befriend(t, author, reader)
	data := randomBytes(t, 2*ChunkSize+5)
	att := author.blob(t, data)
	empty := author.blob(t, nil)
	secret := author.blob(t, randomBytes(t, 10))
	author.publish(t, "photos", feed.Default(), att, empty)
	author.publish(t, "secret photo", feed.Audience{Me: true}, secret)
	c := reader.client(t, author)
	get := func(sha []byte, off uint64) ([]*syncv1.GetBlobResponse, error) {
		s, err := c.GetBlob(ctxT(t), &syncv1.GetBlobRequest{Sha256: sha, Offset: off})
		if err != nil {
			return nil, err
		}
		var out []*syncv1.GetBlobResponse
		for {
			m, err := s.Recv()
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			if err != nil {
				return out, err
			}
			out = append(out, m)
		}
	}
	for _, off := range []uint64{0, 1, ChunkSize, 2*ChunkSize + 4, 2*ChunkSize + 5} {
		ms, err := get(att.GetSha256(), off)
		if err != nil {
			t.Fatalf("offset %d: %v", off, err)
		}
		var got []byte
		next := off
		for _, m := range ms {
			if m.Offset != next || m.Size != uint64(len(data)) || len(m.Chunk) > ChunkSize {
				t.Fatalf("offset %d: chunk at %d of %d bytes (size %d), want at %d", off, m.Offset, len(m.Chunk), m.Size, next)
			}
			got = append(got, m.Chunk...)
			next += uint64(len(m.Chunk))
		}
		if !bytes.Equal(got, data[off:]) {
			t.Errorf("offset %d: %d bytes, not the blob's last %d", off, len(got), len(data)-int(off))
		}
		if wantChunks := (len(data) - int(off) + ChunkSize - 1) / ChunkSize; len(ms) != wantChunks {
			t.Errorf("offset %d: %d chunks, want %d", off, len(ms), wantChunks)
		}
	}
	ms, err := get(empty.GetSha256(), 0)
	if err != nil || len(ms) != 1 || len(ms[0].Chunk) != 0 || ms[0].Size != 0 {
		t.Errorf("empty blob: %v, %v; want one empty chunk", ms, err)
	}
	_, err = get(att.GetSha256(), uint64(len(data))+1)
	wantCode(t, "offset past the end", err, codes.OutOfRange)
	_, err = get(att.GetSha256()[:31], 0)
	wantCode(t, "a 31-byte hash", err, codes.InvalidArgument)
	_, hidden := get(secret.GetSha256(), 0)
	wantCode(t, "a blob the reader may not see", hidden, codes.NotFound)
	unknown := make([]byte, 32)
	_, none := get(unknown, 0)
	wantCode(t, "an unknown blob", none, codes.NotFound)
	if strings.ReplaceAll(status.Convert(hidden).Message(), fmt.Sprintf("%x", secret.GetSha256()), "H") !=
		strings.ReplaceAll(status.Convert(none).Message(), fmt.Sprintf("%x", unknown), "H") {
		t.Errorf("a hidden blob answers %q, an unknown one %q", status.Convert(hidden).Message(), status.Convert(none).Message())
	}
}

// TestChangesLimits: a limit of 0 means DefaultLimit and a larger limit is capped at
// MaxLimit.
func TestChangesLimits(t *testing.T) {
	author, reader := newNode(t, "author", nil), newNode(t, "reader", nil)
	befriend(t, author, reader)
	nps := make([]store.NewPost, MaxLimit+1)
	for i := range nps {
		nps[i] = store.NewPost{Text: "p", Audience: feed.Default()}
	}
	if _, err := author.st.PublishMany(nps); err != nil {
		t.Fatal(err)
	}
	c := reader.client(t, author)
	for _, tc := range []struct {
		limit uint32
		want  int
	}{{0, DefaultLimit}, {1, 1}, {MaxLimit, MaxLimit}, {MaxLimit + 1, MaxLimit}, {1 << 31, MaxLimit}} {
		resp, err := c.Changes(ctxT(t), &syncv1.ChangesRequest{Limit: tc.limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Changes) != tc.want || !resp.More || resp.LastSeq != resp.Changes[len(resp.Changes)-1].Seq {
			t.Errorf("limit %d: %d changes up to %d (more %v), want %d", tc.limit, len(resp.Changes), resp.LastSeq, resp.More, tc.want)
		}
	}
}

// TestRecoverGivesEverythingBack: a friend who holds more than a page of the author's
// posts and the author's kit gives all of them back to the author's key, kit first; a
// post that does not verify as the author's is skipped, not stored.
func TestRecoverGivesEverythingBack(t *testing.T) {
	author, friend := newNode(t, "author", nil), newNode(t, "friend", nil)
	befriend(t, author, friend)
	befriend(t, friend, author)
	photo := author.blob(t, randomBytes(t, 1000))
	nps := make([]store.NewPost, 2*100+1)
	for i := range nps {
		nps[i] = store.NewPost{Text: fmt.Sprintf("post %d", i), Audience: feed.Default()}
	}
	ids, err := author.st.PublishMany(nps)
	if err != nil {
		t.Fatal(err)
	}
	withPhoto := author.publish(t, "with a photo", feed.Default(), photo)
	p := NewPuller(PullerConfig{Store: friend.st, Logger: quiet()})
	if _, err := p.Pull(ctxT(t), friend.client(t, author), author.pub()); err != nil {
		t.Fatal(err)
	}
	if kept, err := p.FetchKit(ctxT(t), friend.client(t, author), author.pub()); err != nil || !kept {
		t.Fatalf("FetchKit: %v, %v", kept, err)
	}

	// The author lost their home; only the key is left.
	again := startNode(t, "author again", author.key, openStore(t, author.key, "author"), nil)
	rp := NewPuller(PullerConfig{Store: again.st, Logger: quiet()})
	kit, err := rp.RecoverKit(ctxT(t), again.client(t, friend))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := rp.Recover(ctxT(t), again.client(t, friend), author.pub())
	if err != nil {
		t.Fatal(err)
	}
	if n := rec.Stored; n != len(ids)+1 {
		t.Errorf("recovered %d posts, want %d", n, len(ids)+1)
	}
	if c, _ := again.st.CountPosts(author.pub()); c != len(ids)+1 {
		t.Errorf("holds %d own posts after recovery, want %d", c, len(ids)+1)
	}
	opened, err := recovery.Open(kit, author.key)
	if err != nil || len(opened.Friends) != 1 || opened.Friends[0].Key != friend.pub() {
		t.Errorf("recovered kit: %+v, %v; want the friend list with the friend", opened, err)
	}
	if ok, _ := again.st.HasBlob(photo.GetSha256()); !ok {
		t.Error("the photo of a recovered post did not come back")
	}
	if st, err := again.st.Post(author.pub(), withPhoto); err != nil || st.Payload.GetText() != "with a photo" {
		t.Errorf("recovered post: %v", err)
	}
	// Recover from someone who holds nothing of ours and no kit: nothing, no error.
	stranger := newNode(t, "stranger", nil)
	kit, err = rp.RecoverKit(ctxT(t), again.client(t, stranger))
	if err != nil || kit != nil {
		t.Errorf("recovery kit from a stranger: kit %v, %v; want none", kit != nil, err)
	}
	rec, err = rp.Recover(ctxT(t), again.client(t, stranger), author.pub())
	if err != nil || rec.Stored != 0 {
		t.Errorf("recover from a stranger: %d posts, %v; want nothing", rec.Stored, err)
	}
}

// TestRecoverSkipsForgeries: posts in a Recover stream that are not the caller's, or do
// not verify, are skipped.
func TestRecoverSkipsForgeries(t *testing.T) {
	author, friend := newNode(t, "author", nil), newNode(t, "friend", nil)
	befriend(t, author, friend)
	befriend(t, friend, author)
	own := friend.publish(t, "the friend's own post", feed.Default())
	author.publish(t, "mine", feed.Default())
	p := NewPuller(PullerConfig{Store: friend.st, Logger: quiet()})
	if _, err := p.Pull(ctxT(t), friend.client(t, author), author.pub()); err != nil {
		t.Fatal(err)
	}
	// The friend answers the friend's own key: it gets its own post back, and only it.
	again := startNode(t, "friend again", friend.key, openStore(t, friend.key, "friend"), nil)
	rp := NewPuller(PullerConfig{Store: again.st, Logger: quiet()})
	rec, err := rp.Recover(ctxT(t), again.client(t, author), friend.pub())
	if n := rec.Stored; err != nil || n != 0 {
		t.Errorf("recover from author (who holds nothing of friend's): %d, %v", n, err)
	}
	// Asking the author's key's posts as if they were the friend's: none verify.
	rec, err = rp.Recover(ctxT(t), again.client(t, friend), author.pub())
	if n := rec.Stored; err != nil || n != 0 {
		t.Errorf("posts not the caller's stored: %d, %v", n, err)
	}
	if again.holds(t, friend, own) != 0 {
		t.Error("recovered a post from a peer that never had it")
	}
}

// TestRecoveryKitsForFriendsOnly: a stranger gets no kit; a friend gets one that
// verifies as the owner's and names the friends; FetchKit keeps only a newer kit, and a
// kit that does not verify is refused and not kept.
func TestRecoveryKitsForFriendsOnly(t *testing.T) {
	l := &liar{}
	owner := newNode(t, "owner", func(s *Server) syncv1.SyncServiceServer { l.Server = s; return l })
	holder, stranger := newNode(t, "holder", nil), newNode(t, "stranger", nil)
	befriend(t, owner, holder, "close")
	befriend(t, holder, owner)
	_, err := stranger.client(t, owner).GetRecoveryKit(ctxT(t), &syncv1.GetRecoveryKitRequest{})
	wantCode(t, "a stranger's GetRecoveryKit", err, codes.PermissionDenied)
	resp, err := holder.client(t, owner).GetRecoveryKit(ctxT(t), &syncv1.GetRecoveryKitRequest{})
	if err != nil {
		t.Fatal(err)
	}
	made, _, err := recovery.Verify(resp.Kit, owner.pub())
	if err != nil || made.IsZero() || made.After(time.Now()) {
		t.Fatalf("kit: made %v, %v; want a kit of the owner's made at its last change", made, err)
	}
	kit, err := recovery.Open(resp.Kit, owner.key)
	if err != nil || kit.Name != "owner" || len(kit.Friends) != 1 || kit.Friends[0].Key != holder.pub() || kit.Friends[0].Groups[0] != "close" {
		t.Errorf("kit contents: %+v, %v", kit, err)
	}
	p := NewPuller(PullerConfig{Store: holder.st, Logger: quiet()})
	c := holder.client(t, owner)
	if kept, err := p.FetchKit(ctxT(t), c, owner.pub()); err != nil || !kept {
		t.Fatalf("first FetchKit: %v, %v", kept, err)
	}
	if kept, err := p.FetchKit(ctxT(t), c, owner.pub()); err != nil || kept {
		t.Errorf("FetchKit of a kit no newer: kept %v, %v", kept, err)
	}
	// A kit the stranger signed, offered as the owner's, is refused.
	if _, err := p.FetchKit(ctxT(t), holder.client(t, stranger), owner.pub()); err == nil {
		t.Error("FetchKit from a stranger who gives none succeeded")
	}
	held, err := holder.st.Kit(owner.pub())
	if err != nil {
		t.Fatal(err)
	}
	if created, _, err := recovery.Verify(held, owner.pub()); err != nil || !created.Equal(made) {
		t.Errorf("holder keeps a kit made %v (%v); want the owner's kit of %v", created, err, made)
	}
	// A newer kit (the owner made a friend since) whose signature was altered on the way
	// is refused and not kept.
	time.Sleep(2 * time.Millisecond) // a kit's time has millisecond resolution
	befriend(t, owner, newNode(t, "newer", nil))
	l.kit = func(r *syncv1.GetRecoveryKitResponse) { r.Kit.Signature[0] ^= 1 }
	if kept, err := p.FetchKit(ctxT(t), c, owner.pub()); err == nil || kept {
		t.Errorf("FetchKit of a forged kit: kept %v, %v", kept, err)
	}
	held, _ = holder.st.Kit(owner.pub())
	if created, _, _ := recovery.Verify(held, owner.pub()); !created.Equal(made) {
		t.Errorf("a forged kit replaced the one held (now made %v)", created)
	}
}

// TestGetProfile: anyone gets the profile signed now, with only what was published.
func TestGetProfile(t *testing.T) {
	owner, stranger := newNode(t, "owner", nil), newNode(t, "stranger", nil)
	now := time.UnixMilli(1_800_000_000_000)
	owner.srv.now = func() time.Time { return now }
	get := func() profile.Profile {
		t.Helper()
		resp, err := stranger.client(t, owner).GetProfile(ctxT(t), &syncv1.GetProfileRequest{})
		if err != nil {
			t.Fatal(err)
		}
		p, err := profile.OpenFrom(resp.Profile, owner.pub())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := get(); p.Name != "" || len(p.Follows) != 0 || !p.Signed.Equal(now) {
		t.Errorf("unpublished profile: %+v; want no name, no follows, signed %v", p, now)
	}
	if err := owner.st.SetPublishName(true); err != nil {
		t.Fatal(err)
	}
	if p := get(); p.Name != "owner" {
		t.Errorf("published name: %q, want owner", p.Name)
	}
}

// TestToStatus: store errors become the gRPC codes a caller can act on.
func TestToStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want codes.Code
	}{
		{fmt.Errorf("post x: %w", store.ErrNotFound), codes.NotFound},
		{fmt.Errorf("wrapped: %w", context.Canceled), codes.Canceled},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{errors.New("disk on fire"), codes.Internal},
	} {
		if got := status.Code(toStatus(tc.err)); got != tc.want {
			t.Errorf("toStatus(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestGetPostsAnswerBound: an answer holds posts while their envelopes, with 8 bytes
// each for framing, add up to at most MaxAnswer: exactly MaxAnswer fits, one byte more
// leaves the last post for the next call.
func TestGetPostsAnswerBound(t *testing.T) {
	author, reader := newNode(t, "author", nil), newNode(t, "reader", nil)
	befriend(t, author, reader)
	envSize := func(id post.ID) int {
		st, err := author.st.Post(author.pub(), id)
		if err != nil {
			t.Fatal(err)
		}
		return proto.Size(st.Envelope) + 8
	}
	var ids [][]byte
	sum := 0
	for MaxAnswer-sum > 60000 {
		id := author.publish(t, strings.Repeat("w", 40000), feed.Default())
		ids = append(ids, id[:])
		sum += envSize(id)
	}
	// What is left is 20 to 60 kB, so lengths keep their 3-byte varints. A post whose
	// envelope is exactly the room left, and one a byte larger, made by
	// measuring a probe of the same shape.
	probeLen := 30000
	probe := envSize(author.publish(t, strings.Repeat("p", probeLen), feed.Default()))
	exact := author.publish(t, strings.Repeat("e", probeLen+MaxAnswer-sum-probe), feed.Default())
	over := author.publish(t, strings.Repeat("o", probeLen+MaxAnswer-sum-probe+1), feed.Default())
	if envSize(exact) != MaxAnswer-sum || envSize(over) != MaxAnswer-sum+1 {
		t.Fatalf("could not size the last posts: %d and %d, want %d and %d", envSize(exact), envSize(over), MaxAnswer-sum, MaxAnswer-sum+1)
	}
	c := reader.client(t, author)
	for _, tc := range []struct {
		last post.ID
		want int
	}{{exact, len(ids) + 1}, {over, len(ids)}} {
		resp, err := c.GetPosts(ctxT(t), &syncv1.GetPostsRequest{Ids: append(append([][]byte(nil), ids...), tc.last[:])})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Posts) != tc.want {
			t.Errorf("answer of %d posts, want %d (the last one's envelope %d bytes, %d left)", len(resp.Posts), tc.want, envSize(tc.last), MaxAnswer-sum)
		}
	}
}

// TestPushRecoveryKit: a friend's pushed kit, signed by that friend, is kept when newer
// than the one held; a stranger's push is refused, and so is a kit that is not the
// caller's own (another's kit, or a broken signature), which changes nothing held.
func TestPushRecoveryKit(t *testing.T) {
	holder, owner, stranger := newNode(t, "holder", nil), newNode(t, "owner", nil), newNode(t, "stranger", nil)
	befriend(t, holder, owner)
	befriend(t, owner, holder)
	kit, made, err := owner.srv.Kit().Envelope()
	if err != nil {
		t.Fatal(err)
	}
	c := owner.client(t, holder)
	ctx := ctxT(t)
	_, err = stranger.client(t, holder).PushRecoveryKit(ctx, &syncv1.PushRecoveryKitRequest{Kit: kit})
	wantCode(t, "a stranger's push", err, codes.PermissionDenied)
	other, _, err := stranger.srv.Kit().Envelope()
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.PushRecoveryKit(ctx, &syncv1.PushRecoveryKitRequest{Kit: other})
	wantCode(t, "a friend pushing another's kit", err, codes.InvalidArgument)
	broken := proto.Clone(kit).(*signedv1.Envelope)
	broken.Signature[0] ^= 1
	_, err = c.PushRecoveryKit(ctx, &syncv1.PushRecoveryKitRequest{Kit: broken})
	wantCode(t, "a kit with a broken signature", err, codes.InvalidArgument)
	if _, err := holder.st.Kit(owner.pub()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused kit was kept: %v", err)
	}
	if resp, err := c.PushRecoveryKit(ctx, &syncv1.PushRecoveryKitRequest{Kit: kit}); err != nil || !resp.GetKept() {
		t.Fatalf("the friend's own kit: kept %v, %v", resp.GetKept(), err)
	}
	if resp, err := c.PushRecoveryKit(ctx, &syncv1.PushRecoveryKitRequest{Kit: kit}); err != nil || resp.GetKept() {
		t.Errorf("the same kit again: kept %v, %v; want not kept", resp.GetKept(), err)
	}
	held, err := holder.st.Kit(owner.pub())
	if err != nil {
		t.Fatal(err)
	}
	if created, _, err := recovery.Verify(held, owner.pub()); err != nil || !created.Equal(made) {
		t.Errorf("holder keeps a kit made %v (%v); want %v", created, err, made)
	}
}

// TestReachabilityForFriendsOnly: a friend gets this peer's reachability key and
// FetchReachability keeps it; a stranger gets PermissionDenied and keeps nothing.
func TestReachabilityForFriendsOnly(t *testing.T) {
	owner, friend, stranger := newNode(t, "owner", nil), newNode(t, "friend", nil), newNode(t, "stranger", nil)
	befriend(t, owner, friend)
	befriend(t, friend, owner)
	befriend(t, stranger, owner)
	want, err := owner.st.ReachKey()
	if err != nil {
		t.Fatal(err)
	}
	_, err = stranger.client(t, owner).GetReachability(ctxT(t), &syncv1.GetReachabilityRequest{})
	wantCode(t, "a stranger's GetReachability", err, codes.PermissionDenied)
	if err := NewPuller(PullerConfig{Store: stranger.st, Logger: quiet()}).FetchReachability(ctxT(t), stranger.client(t, owner), owner.pub()); err == nil {
		t.Error("FetchReachability as a stranger succeeded")
	}
	if got, _ := stranger.st.FriendReachKey(owner.pub()); got != nil {
		t.Errorf("the stranger keeps a reachability key %x", got)
	}
	if err := NewPuller(PullerConfig{Store: friend.st, Logger: quiet()}).FetchReachability(ctxT(t), friend.client(t, owner), owner.pub()); err != nil {
		t.Fatal(err)
	}
	if got, err := friend.st.FriendReachKey(owner.pub()); err != nil || !bytes.Equal(got, want) {
		t.Errorf("the friend keeps %x, %v; want the owner's key %x", got, err, want)
	}
}

// TestOwnKitSealedOncePerChange: the kit is sealed again only when what it holds changed
// (sealing reads every post's audience); until then the same envelope is handed out.
func TestOwnKitSealedOncePerChange(t *testing.T) {
	owner := newNode(t, "owner", nil)
	befriend(t, owner, newNode(t, "friend", nil))
	first, made, err := owner.srv.Kit().Envelope()
	if err != nil {
		t.Fatal(err)
	}
	again, made2, err := owner.srv.Kit().Envelope()
	if err != nil || again != first || !made2.Equal(made) {
		t.Fatalf("a second call with nothing changed sealed anew (%v)", err)
	}
	time.Sleep(2 * time.Millisecond) // a kit's time has millisecond resolution
	befriend(t, owner, newNode(t, "another", nil))
	changed, made3, err := owner.srv.Kit().Envelope()
	if err != nil || changed == first || !made3.After(made) {
		t.Fatalf("after a change: made %v (was %v), same envelope %v, %v; want a new kit", made3, made, changed == first, err)
	}
}
