package syncer

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// reply seals a reply by n to author's post id.
func (n *node) reply(t testing.TB, author *node, id post.ID, text string, public bool) store.Record {
	t.Helper()
	env, r, err := post.SealReply(n.key, post.ReplyDraft{PostAuthor: author.pub(), PostID: id, Text: text, Public: public, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return store.Record{Envelope: env, Reply: r}
}

// react seals a reaction by n to author's post id.
func (n *node) react(t testing.TB, author *node, id post.ID, emoji string, public bool) store.Record {
	t.Helper()
	env, r, err := post.SealReaction(n.key, post.ReactionDraft{PostAuthor: author.pub(), PostID: id, Emoji: emoji, Public: public, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return store.Record{Envelope: env, Reaction: r}
}

// TestConversationsOverTheWire: a friend's reply and reaction to a post it may see are
// hosted and served back verified; a stranger may answer no post and sees a
// friends-only post's conversation exactly as an unknown post's (nothing), a public
// post's records; forged or empty records are refused.
func TestConversationsOverTheWire(t *testing.T) {
	author, friend, stranger := newNode(t, "author", nil), newNode(t, "friend", nil), newNode(t, "stranger", nil)
	befriend(t, author, friend)
	private := author.publish(t, "for friends", feed.Default())
	public := author.publish(t, "for all", feed.Audience{Public: true})
	fc, sc := friend.client(t, author), stranger.client(t, author)
	ctx := ctxT(t)

	for _, rec := range []store.Record{
		friend.reply(t, author, private, "a friend's reply", false),
		friend.react(t, author, private, "👍", false),
		friend.reply(t, author, public, "a public reply", true),
	} {
		if err := Deliver(ctx, fc, nil, rec); err != nil {
			t.Fatalf("a friend's record: %v", err)
		}
	}

	// A stranger may not answer, even a public post.
	err := Deliver(ctx, sc, nil, stranger.reply(t, author, public, "a stranger's reply", true))
	wantCode(t, "a stranger's reply", err, codes.PermissionDenied)
	err = Deliver(ctx, sc, nil, stranger.react(t, author, public, "👍", true))
	wantCode(t, "a stranger's reaction", err, codes.PermissionDenied)

	// Records that do not open are refused before the store sees them.
	bad := friend.reply(t, author, private, "forged", false)
	bad.Envelope = proto.Clone(bad.Envelope).(*signedv1.Envelope)
	bad.Envelope.Payload = append([]byte(nil), bad.Envelope.GetPayload()...)
	bad.Envelope.Payload[len(bad.Envelope.Payload)-1] ^= 1
	wantCode(t, "a reply with a broken signature", Deliver(ctx, fc, nil, bad), codes.InvalidArgument)
	badR := friend.react(t, author, private, "👍", false)
	badR.Envelope = proto.Clone(badR.Envelope).(*signedv1.Envelope)
	badR.Envelope.Signature[0] ^= 1
	wantCode(t, "a reaction with a broken signature", Deliver(ctx, fc, nil, badR), codes.InvalidArgument)
	_, err = fc.PutConversation(ctx, &syncv1.PutConversationRequest{})
	wantCode(t, "no record", err, codes.InvalidArgument)

	// The friend gets back exactly what it sent, verified.
	held, err := FetchConversations(ctx, fc, author.pub(), []post.ID{private, public}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[post.ID][2]int{}
	for _, h := range held {
		counts[h.PostID] = [2]int{len(h.Replies), len(h.Reactions)}
	}
	if len(held) != 2 || counts[private] != [2]int{1, 1} || counts[public] != [2]int{1, 0} {
		t.Errorf("the friend fetched %v (post: replies, reactions); want the private post 1, 1 and the public one 1, 0", counts)
	}

	// The stranger: nothing of the friends-only post, the public post's reply.
	held, err = FetchConversations(ctx, sc, author.pub(), []post.ID{private, public}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 1 || held[0].PostID != public || len(held[0].Replies) != 1 || len(held[0].Reactions) != 0 ||
		held[0].Replies[0].Reply.GetText() != "a public reply" {
		t.Errorf("the stranger fetched %+v; want the public post's reply alone", held)
	}
}

// TestGetConversationsArguments: at most MaxIDs ids a call (exactly MaxIDs is fine), each
// a well-formed post id; FetchConversations asks in batches of MaxIDs.
func TestGetConversationsArguments(t *testing.T) {
	author, friend := newNode(t, "author", nil), newNode(t, "friend", nil)
	befriend(t, author, friend)
	c := friend.client(t, author)
	ctx := ctxT(t)
	ask := func(ids [][]byte) error {
		t.Helper()
		s, err := c.GetConversations(ctx, &syncv1.GetConversationsRequest{PostIds: ids})
		if err != nil {
			return err
		}
		for {
			if _, err := s.Recv(); errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return err
			}
		}
	}
	unknown := func(n int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = make([]byte, post.IDSize)
			out[i][0] = byte(i + 1)
		}
		return out
	}
	wantCode(t, "MaxIDs+1 ids", ask(unknown(MaxIDs+1)), codes.InvalidArgument)
	wantCode(t, "a short id", ask([][]byte{make([]byte, post.IDSize-1)}), codes.InvalidArgument)
	if err := ask(unknown(MaxIDs)); err != nil {
		t.Errorf("MaxIDs unknown ids: %v, want an empty answer", err)
	}

	// More ids than one call takes: the last post, past the first batch, still comes.
	ids := make([]post.ID, 0, MaxIDs+1)
	for _, b := range unknown(MaxIDs) {
		ids = append(ids, post.ID(b))
	}
	pid := author.publish(t, "the last one", feed.Default())
	ids = append(ids, pid)
	if err := Deliver(ctx, c, nil, friend.reply(t, author, pid, "hello", false)); err != nil {
		t.Fatal(err)
	}
	held, err := FetchConversations(ctx, c, author.pub(), ids, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 1 || held[0].PostID != pid || len(held[0].Replies) != 1 {
		t.Errorf("fetched %+v; want the last post's one reply", held)
	}
}

// convoLiar is a host that answers GetConversations with what send makes of the real
// answer's messages, and includes in a Changes answer what included makes of the
// conversations the real one includes (nil: none at all).
type convoLiar struct {
	*Server
	send     func([]*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse
	included func([]*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse
}

func (l *convoLiar) Changes(ctx context.Context, req *syncv1.ChangesRequest) (*syncv1.ChangesResponse, error) {
	resp, err := l.Server.Changes(ctx, req)
	if err != nil {
		return nil, err
	}
	if l.included == nil {
		resp.Conversations = nil
	} else if len(resp.Conversations) > 0 {
		resp.Conversations = l.included(resp.Conversations)
	}
	return resp, nil
}

type convoRecorder struct {
	syncv1.SyncService_GetConversationsServer
	got []*syncv1.GetConversationsResponse
}

func (r *convoRecorder) Send(m *syncv1.GetConversationsResponse) error {
	r.got = append(r.got, proto.Clone(m).(*syncv1.GetConversationsResponse))
	return nil
}

func (l *convoLiar) GetConversations(req *syncv1.GetConversationsRequest, stream syncv1.SyncService_GetConversationsServer) error {
	if l.send == nil {
		return status.Error(codes.Unimplemented, "an older kith")
	}
	rec := &convoRecorder{SyncService_GetConversationsServer: stream}
	if err := l.Server.GetConversations(req, rec); err != nil {
		return err
	}
	for _, m := range l.send(rec.got) {
		if err := stream.Send(m); err != nil {
			return err
		}
	}
	return nil
}

// TestFetchConversationsRefusesLies: whatever a host alters in a conversation (a
// signature, the post a record answers, a record twice, a post not asked for, chunks of
// posts interleaved, a missing end), the fetch fails with ErrTampered and keeps nothing;
// a host that does not serve conversations gives none, without an error.
func TestFetchConversationsRefusesLies(t *testing.T) {
	var liar convoLiar
	author := newNode(t, "author", func(s *Server) syncv1.SyncServiceServer { liar.Server = s; return &liar })
	friend, other := newNode(t, "friend", nil), newNode(t, "other", nil)
	befriend(t, author, friend)
	p1 := author.publish(t, "one", feed.Default())
	p2 := author.publish(t, "two", feed.Default())
	c := friend.client(t, author)
	ctx := ctxT(t)
	for _, rec := range []store.Record{friend.reply(t, author, p1, "hi", false), friend.react(t, author, p1, "👍", false),
		friend.reply(t, author, p2, "ho", false)} {
		if err := Deliver(ctx, c, nil, rec); err != nil {
			t.Fatal(err)
		}
	}
	elsewhere := friend.reply(t, other, p1, "to another author's post", false)
	elsewhereR := friend.react(t, other, p1, "👍", false)
	// Each real answer is: p1 {reply, reaction}, p1 complete, p2 {reply}, p2 complete.
	lies := map[string]func([]*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse{
		"a reply's signature broken": func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			ms[0].Replies[0].Signature[0] ^= 1
			return ms
		},
		"a reaction's signature broken": func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			ms[0].Reactions[0].Signature[0] ^= 1
			return ms
		},
		"a reply to another author's post": func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			ms[0].Replies = append(ms[0].Replies, elsewhere.Envelope)
			return ms
		},
		"a reaction to another author's post": func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			ms[0].Reactions = append(ms[0].Reactions, elsewhereR.Envelope)
			return ms
		},
		"a reply under the other post": func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			ms[2].Replies = append(ms[2].Replies, ms[0].Replies[0])
			return ms
		},
		"a reply served twice": func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			ms[0].Replies = append(ms[0].Replies, ms[0].Replies[0])
			return ms
		},
		"a reaction served twice": func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			ms[0].Reactions = append(ms[0].Reactions, ms[0].Reactions[0])
			return ms
		},
		"a post not asked for": func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			odd := make([]byte, post.IDSize)
			return append(ms, &syncv1.GetConversationsResponse{PostId: odd, Complete: true})
		},
		"a malformed post id": func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			ms[1].PostId = ms[1].PostId[:5]
			return ms
		},
		"a post served twice": func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			return append(ms, ms[0], ms[1])
		},
		"chunks interleaved": func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			return []*syncv1.GetConversationsResponse{ms[0], ms[2], ms[1], ms[3]}
		},
		"the end left out": func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			return ms[:3]
		},
	}
	for name, lie := range lies {
		liar.send = lie
		held, err := FetchConversations(ctx, c, author.pub(), []post.ID{p1, p2}, nil, nil)
		if !errors.Is(err, ErrTampered) || held != nil {
			t.Errorf("%s: %d conversations, %v; want none and ErrTampered", name, len(held), err)
		}
	}
	liar.send = func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse { return ms }
	if held, err := FetchConversations(ctx, c, author.pub(), []post.ID{p1, p2}, nil, nil); err != nil || len(held) != 2 {
		t.Errorf("the honest answer: %d conversations, %v; want 2", len(held), err)
	}
	liar.send = nil
	if held, err := FetchConversations(ctx, c, author.pub(), []post.ID{p1}, nil, nil); err != nil || held != nil {
		t.Errorf("a host without conversations: %v, %v; want nothing and no error", held, err)
	}

	// The same lies in the conversations a Changes answer includes fail the pull, and
	// nothing of it is kept; GetConversations answers honestly meanwhile.
	liar.send = func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse { return ms }
	reader := newNode(t, "reader", nil) // a refused pull keeps nothing: one reader serves every lie
	befriend(t, author, reader)
	befriend(t, reader, author)
	rc := reader.client(t, author)
	for name, lie := range lies {
		liar.included = func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			// In feed order the replies moved p1 after p2: put p1's first, as the lies expect.
			ms = cloneConvo(ms)
			slices.SortStableFunc(ms, func(a, b *syncv1.GetConversationsResponse) int {
				return cmp.Compare(btoi(!bytes.Equal(a.PostId, p1[:])), btoi(!bytes.Equal(b.PostId, p1[:])))
			})
			return lie(ms)
		}
		res, err := NewPuller(PullerConfig{Store: reader.st, Logger: quiet()}).Pull(ctx, rc, author.pub())
		if !errors.Is(err, ErrTampered) || res.Stored != 0 || reader.count(t, author) != 0 {
			t.Errorf("%s, in the changes: stored %d (%d held), %v; want nothing and ErrTampered", name, res.Stored, reader.count(t, author), err)
		}
		if recs, _ := reader.st.Thread(author.pub(), p1); len(recs) != 0 {
			t.Errorf("%s, in the changes: %d records of p1 kept", name, len(recs))
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cloneConvo deep-copies messages a lie will alter, so the server's own stay whole.
func cloneConvo(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
	out := make([]*syncv1.GetConversationsResponse, len(ms))
	for i, m := range ms {
		out[i] = proto.Clone(m).(*syncv1.GetConversationsResponse)
	}
	return out
}

// TestServerWithoutLogger: NewServer with no logger logs where slog's default logger
// does; refusing a forged reply, which it logs, works as with one.
func TestServerWithoutLogger(t *testing.T) {
	author, friend := newNode(t, "author", nil), newNode(t, "friend", nil)
	befriend(t, author, friend)
	id := author.publish(t, "for friends", feed.Default())
	s := NewServer(author.st, nil)
	s.caller = func(context.Context) (identity.PublicKey, bool) { return friend.pub(), true }
	bad := friend.reply(t, author, id, "forged", false)
	bad.Envelope.Signature[0] ^= 1
	_, err := s.PutConversation(ctxT(t), &syncv1.PutConversationRequest{Record: &syncv1.PutConversationRequest_Reply{Reply: bad.Envelope}})
	wantCode(t, "a forged reply", err, codes.InvalidArgument)
}
