package syncer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Errors a caller may test for with errors.Is.
var (
	// ErrTampered means a peer served something that does not verify as theirs: a bad
	// signature, a forged author, a post other than the one asked for, or a blob that
	// does not match its hash. Nothing of that step is stored.
	ErrTampered = errors.New("peer served data that does not verify")
	// ErrProtocol means a peer's answer breaks the sync protocol.
	ErrProtocol = errors.New("peer's answer breaks the sync protocol")
)

// PullerConfig configures a Puller.
type PullerConfig struct {
	// Store is where pulled posts go.
	Store *store.Store
	// Logger receives rejections and progress; slog.Default() when nil.
	Logger *slog.Logger
	// BatchSize is how many changes one step asks for; DefaultLimit when zero.
	BatchSize int
	// Progress, when set, is called after every stored step.
	Progress func(friend identity.PublicKey, step store.Applied, cursor uint64)
}

// Puller pulls friends' changes feeds into the store.
type Puller struct {
	cfg PullerConfig
	log *slog.Logger
}

// NewPuller returns a Puller.
func NewPuller(cfg PullerConfig) *Puller {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultLimit
	}
	return &Puller{cfg: cfg, log: cfg.Logger}
}

// Result sums up a pull.
type Result struct {
	store.Applied
	// Cursor is the friend's sequence number reached.
	Cursor uint64
	// Blobs is how many attachments were fetched.
	Blobs int
	// Stranger is set when the friend's node answered as to a stranger: it no longer
	// counts this node's key as a friend's (public posts only).
	Stranger bool
	// Carry is what the friend's parcel log brought (carry.go), when it was read.
	Carry *CarryResult
}

// Pull brings the store up to date with friend's feed, step by step: each step's posts
// are verified, their attachments fetched and checked, and then the posts and the
// advanced cursor are stored in one transaction. Three stages overlap: the next steps'
// Changes and GetPosts answers are read ahead (readAhead), the current step is verified
// on every core, and the previous step is being stored.
func (p *Puller) Pull(ctx context.Context, c syncv1.SyncServiceClient, friend identity.PublicKey) (Result, error) {
	return p.PullWith(ctx, c, friend, PullHooks{})
}

// PullHooks let a caller overlap a pull with calls of its own on the same connection.
type PullHooks struct {
	// Ready, when set, is closed once the friend's device revocations are kept: the pull
	// asks for the first changes and posts at once but verifies nothing before, so a post
	// a device revoked by then is refused as in Pull, without a round trip of its own.
	Ready <-chan struct{}
	// Answered, when set, is called once, after Ready, with what the first Changes answer
	// said: whether the friend's node counts us a stranger. It runs on the pull's
	// goroutine, the caller's.
	Answered func(stranger bool)
}

// PullWith is Pull with hooks.
func (p *Puller) PullWith(ctx context.Context, c syncv1.SyncServiceClient, friend identity.PublicKey, h PullHooks) (Result, error) {
	var res Result
	cursor, err := p.cfg.Store.Cursor(friend)
	if err != nil {
		return res, err
	}
	res.Cursor = cursor
	type stored struct {
		n      store.Applied
		cursor uint64
		err    error
	}
	var inflight chan stored
	// wait collects the step being stored, if any.
	wait := func() error {
		if inflight == nil {
			return nil
		}
		st := <-inflight
		inflight = nil
		if st.err != nil {
			return fmt.Errorf("pull %s: %w", friend.Short(), st.err)
		}
		res.Stored += st.n.Stored
		res.Ignored += st.n.Ignored
		res.Dropped += st.n.Dropped
		res.Cursor = st.cursor
		if p.cfg.Progress != nil {
			p.cfg.Progress(friend, st.n, st.cursor)
		}
		return nil
	}
	defer wait()
	ctx, cancel := context.WithCancel(ctx)
	ahead := make(chan readStep, readAheadSteps)
	go p.readAhead(ctx, c, friend, cursor, ahead)
	defer func() {
		cancel()
		for range ahead { // the reader has stopped when the channel closes
		}
	}()
	if h.Ready != nil {
		select {
		case <-h.Ready:
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	revoked, err := p.cfg.Store.Revocations(friend)
	if err != nil {
		return res, err
	}
	author := Author{Key: friend, Revoked: revoked, Refused: func(id []byte, err error) {
		p.log.Warn("refused a post signed by a revoked device", "friend", friend.ID(), "post", fmt.Sprintf("%x", id), "err", err)
	}}
	for rs := range ahead {
		if rs.first && rs.err == nil {
			res.Stranger = rs.stranger
			if h.Answered != nil {
				h.Answered(rs.stranger)
			}
		}
		if rs.err != nil {
			return res, errors.Join(fmt.Errorf("pull %s: %w", friend.Short(), rs.err), wait())
		}
		batch, blobs, err := p.step(ctx, c, author, rs)
		if err != nil {
			return res, errors.Join(fmt.Errorf("pull %s: %w", friend.Short(), err), wait())
		}
		if err := wait(); err != nil {
			return res, err
		}
		res.Blobs += blobs
		inflight = make(chan stored, 1)
		go func(ch chan<- stored) {
			n, err := p.cfg.Store.Apply(friend, batch)
			ch <- stored{n, batch.Cursor, err}
		}(inflight)
	}
	err = wait() // before reading res: return evaluates its operands in order
	return res, err
}

// readAheadSteps is how many steps readAhead may read before the puller verifies them: a
// bound on what one pull holds in memory (each step at most MaxIDs posts).
const readAheadSteps = 2

// readStep is one step read ahead: the Changes answer, checked, and the first answer to
// its GetPosts (the posts the Changes answer included, or a GetPosts call's), not yet
// verified (its fetch knows no Author yet: step gives it one).
type readStep struct {
	step  Step
	fetch *postFetch
	asked [][]byte
	got   *syncv1.GetPostsResponse
	// first marks the first step; stranger is what its answer's header said.
	first, stranger bool
	// convs are the conversations the Changes answer included, not yet verified.
	convs []*syncv1.GetConversationsResponse
	err   error
}

// readAhead reads friend's feed from cursor, step after step, into out (closed at the
// end), without waiting for the steps to be verified or stored: the cursor of the next
// Changes call is in the previous answer. It stops at the feed's end, at the first error
// (sent as the last step), or when ctx ends.
func (p *Puller) readAhead(ctx context.Context, c syncv1.SyncServiceClient, friend identity.PublicKey, cursor uint64, out chan<- readStep) {
	defer close(out)
	send := func(rs readStep) bool {
		select {
		case out <- rs:
			return true
		case <-ctx.Done():
			return false
		}
	}
	restarted := false
	for first := true; ; first = false {
		var hdr metadata.MD
		rs := readStep{first: first}
		resp, err := c.Changes(ctx, &syncv1.ChangesRequest{Since: cursor, Limit: uint32(p.cfg.BatchSize), IncludePosts: true, IncludeConversations: true}, grpc.Header(&hdr))
		if err != nil {
			rs.err = fmt.Errorf("changes since %d: %w", cursor, err)
			send(rs)
			return
		}
		rs.stranger = slices.Contains(hdr.Get(RelationHeader), RelationStranger)
		if rs.step, rs.err = ParseChanges(cursor, resp); rs.err != nil {
			send(rs)
			return
		}
		rs.fetch = newPostFetch(Author{}, rs.step.Fetch)
		rs.convs = resp.GetConversations()
		switch {
		case len(rs.fetch.next()) == 0:
		case len(resp.GetPosts()) > 0: // the answer's own posts, as GetPosts would answer them
			rs.asked, rs.got = rs.fetch.next(), &syncv1.GetPostsResponse{Posts: resp.GetPosts()}
		default:
			if rs.asked, rs.got, rs.err = rs.fetch.ask(ctx, c); rs.err != nil {
				send(rs)
				return
			}
		}
		if !send(rs) {
			return
		}
		cursor = rs.step.Cursor
		if rs.step.Restart && !restarted {
			// Once a pull: a peer that claims a restart at every call costs one extra call.
			restarted = true
			p.log.Info("friend's feed ends before our cursor (home rebuilt?): reading it again from the start", "friend", friend.Short())
			continue
		}
		if !resp.GetMore() {
			return
		}
	}
}

// step turns one step read ahead into a verified batch of author's.
func (p *Puller) step(ctx context.Context, c syncv1.SyncServiceClient, author Author, rs readStep) (store.Batch, int, error) {
	friend := author.Key
	b := store.Batch{Cursor: rs.step.Cursor, Revoked: rs.step.Revoked, Restart: rs.step.Restart}
	rs.fetch.author = author
	err := func() error {
		if rs.got != nil {
			if err := rs.fetch.take(rs.asked, rs.got); err != nil {
				return err
			}
		}
		return rs.fetch.run(ctx, c, nil)
	}()
	if err != nil {
		if errors.Is(err, ErrTampered) {
			p.log.Warn("rejected a post a friend served", "friend", friend.ID(), "err", err)
		}
		return b, 0, err
	}
	b.Posts = rs.fetch.out
	// The posts' attachments and their conversations (then the replies' attachments)
	// need nothing of each other: asked for side by side, the conversations cost no
	// round trip after a long attachment.
	var (
		blobs    int
		blobsErr error
		wg       sync.WaitGroup
	)
	wg.Go(func() { blobs, blobsErr = p.fetchBlobs(ctx, c, friend, b.Posts) })
	var n int
	b.Conversations, n, err = p.conversations(ctx, c, friend, b.Posts, rs)
	wg.Wait()
	if blobsErr != nil {
		return b, blobs, blobsErr
	}
	return b, blobs + n, err
}

// conversations fetches the conversations of friend's posts that live, then the
// attachments of their replies; it returns how many attachments it stored.
func (p *Puller) conversations(ctx context.Context, c syncv1.SyncServiceClient, friend identity.PublicKey, posts []store.Verified, rs readStep) ([]store.HeldConversation, int, error) {
	cs, err := p.fetchConversations(ctx, c, friend, liveIDs(posts), rs)
	if errors.Is(err, ErrTampered) {
		p.log.Warn("rejected a conversation a friend served", "friend", friend.ID(), "err", err)
	}
	if err != nil {
		return cs, 0, err
	}
	n, err := p.fetchAttachments(ctx, c, friend, replyAttachments(cs))
	return cs, n, err
}

// fetchConversations is FetchConversations of live, taking first what the step's
// Changes answer included: verified as GetConversations' answer for the step's posts,
// less the conversations of posts that turned out deleted or refused. The posts whose
// conversation it did not include are asked for.
func (p *Puller) fetchConversations(ctx context.Context, c syncv1.SyncServiceClient, friend identity.PublicKey, live []post.ID, rs readStep) ([]store.HeldConversation, error) {
	held := p.cfg.Store.Revocations
	var out []store.HeldConversation
	covered := map[post.ID]bool{}
	if len(rs.convs) > 0 {
		want := idSet(rs.step.included())
		got, err := includedConversations(rs.convs, want, friend, held, p.log)
		if err != nil {
			return nil, err
		}
		keep := idSet(live)
		for _, hc := range got {
			covered[hc.PostID] = true
			if keep[hc.PostID] {
				out = append(out, hc)
			}
		}
	}
	rest := slices.DeleteFunc(slices.Clone(live), func(id post.ID) bool { return covered[id] })
	more, err := FetchConversations(ctx, c, friend, rest, held, p.log)
	return append(out, more...), err
}

// idSet is ids as a set.
func idSet(ids []post.ID) map[post.ID]bool {
	set := make(map[post.ID]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return set
}

// replyAttachments are the attachments of the replies of cs, which their host serves
// with them.
func replyAttachments(cs []store.HeldConversation) []*postv1.Attachment {
	var out []*postv1.Attachment
	for _, hc := range cs {
		for _, r := range hc.Replies {
			out = append(out, r.Reply.GetAttachments()...)
		}
	}
	return out
}

// liveIDs are the ids of the posts that are not tombstones: the ones that may have a
// conversation to fetch.
func liveIDs(vs []store.Verified) []post.ID {
	var ids []post.ID
	for _, v := range vs {
		if !v.Payload.GetDeleted() {
			ids = append(ids, post.ID(v.Payload.GetId()))
		}
	}
	return ids
}

// fetchBlobs stores the attachments of posts that the store lacks, checking each.
func (p *Puller) fetchBlobs(ctx context.Context, c syncv1.SyncServiceClient, friend identity.PublicKey, posts []store.Verified) (int, error) {
	var atts []*postv1.Attachment
	for _, v := range posts {
		atts = append(atts, v.Payload.GetAttachments()...)
	}
	return p.fetchAttachments(ctx, c, friend, atts)
}

// fetchAttachments stores each of atts that the store lacks, checking each.
func (p *Puller) fetchAttachments(ctx context.Context, c syncv1.SyncServiceClient, friend identity.PublicKey, atts []*postv1.Attachment) (int, error) {
	n := 0
	for _, a := range atts {
		ok, err := p.cfg.Store.HasBlob(a.GetSha256())
		if err != nil {
			return n, err
		}
		if ok {
			continue
		}
		if err := p.fetchBlob(ctx, c, a); err != nil {
			if errors.Is(err, store.ErrBlobMismatch) {
				p.log.Warn("rejected a blob a friend served", "friend", friend.ID(), "err", err)
				return n, fmt.Errorf("%w: %w", ErrTampered, err)
			}
			return n, err
		}
		n++
	}
	return n, nil
}

func (p *Puller) fetchBlob(ctx context.Context, c syncv1.SyncServiceClient, a *postv1.Attachment) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.GetBlob(ctx, &syncv1.GetBlobRequest{Sha256: a.GetSha256()})
	if err != nil {
		return fmt.Errorf("get blob %x: %w", a.GetSha256()[:8], err)
	}
	w, err := p.cfg.Store.NewBlob()
	if err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			w.Abort()
			return fmt.Errorf("get blob %x: %w", a.GetSha256()[:8], err)
		}
		if msg.GetOffset() != w.Size() || w.Size()+uint64(len(msg.GetChunk())) > a.GetSize() {
			w.Abort()
			return fmt.Errorf("get blob %x: %w: chunk at %d, have %d of %d bytes", a.GetSha256()[:8], store.ErrBlobMismatch, msg.GetOffset(), w.Size(), a.GetSize())
		}
		if _, err := w.Write(msg.GetChunk()); err != nil {
			w.Abort()
			return err
		}
	}
	_, err = w.Commit(a)
	return err
}

// Watch keeps friend's posts flowing in: it pulls once, then pulls again whenever the
// friend's Watch stream says something changed. It returns when ctx ends (nil) or the
// stream fails (the caller reconnects).
func (p *Puller) Watch(ctx context.Context, c syncv1.SyncServiceClient, friend identity.PublicKey) error {
	res, err := p.Pull(ctx, c, friend)
	if err != nil {
		return err
	}
	stream, err := c.Watch(ctx, &syncv1.WatchRequest{Since: res.Cursor})
	if err != nil {
		return fmt.Errorf("watch %s: %w", friend.Short(), err)
	}
	for {
		if _, err := stream.Recv(); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watch %s: %w", friend.Short(), err)
		}
		if _, err := p.Pull(ctx, c, friend); err != nil {
			return err
		}
	}
}

// Recover asks a friend for every post of the caller's own (self) and stores those that
// verify as self's, with the audiences store.Recovered gives them. The kit the friend
// sends first is skipped: RecoverKit asks for it.
func (p *Puller) Recover(ctx context.Context, c syncv1.SyncServiceClient, self identity.PublicKey) (store.Recovery, error) {
	stream, err := c.Recover(ctx, &syncv1.RecoverRequest{})
	if err != nil {
		return store.Recovery{}, fmt.Errorf("recover: %w", err)
	}
	var got []store.Verified
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return store.Recovery{}, fmt.Errorf("recover: %w", err)
		}
		if msg.GetRecoveryKit() != nil {
			continue
		}
		pl, err := post.OpenFrom(msg.GetPost(), self)
		if err != nil {
			p.log.Warn("rejected a recovered post", "err", err)
			continue
		}
		got = append(got, store.Verified{Envelope: msg.GetPost(), Payload: pl})
	}
	n, err := p.cfg.Store.Recovered(got)
	if err != nil {
		return n, err
	}
	// The posts are back; their photos follow, each checked against its hash. A photo
	// that cannot be fetched is reported, and does not undo the posts.
	if _, err := p.fetchBlobs(ctx, c, self, got); err != nil {
		return n, fmt.Errorf("recover attachments: %w", err)
	}
	return n, nil
}

// refusedID reads the id of a post refused for its device, from its signed bytes (the
// signature verified; only the device's standing failed).
func refusedID(env *signedv1.Envelope) (post.ID, bool) {
	var p postv1.Payload
	if err := proto.Unmarshal(env.GetPayload(), &p); err != nil {
		return post.ID{}, false
	}
	id, err := post.ParseID(p.GetId())
	return id, err == nil
}
