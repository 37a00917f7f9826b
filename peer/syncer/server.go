// Package syncer runs kith's sync: the Server answers kith.sync.v1 from the store, the
// Puller verifies and stores what friends' servers answer.
package syncer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/carry"
	"github.com/kithnet/kith/peer/device"
	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/transport"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Limits of the server.
const (
	// DefaultLimit is how many changes one Changes call returns when the caller says 0.
	DefaultLimit = 500
	// MaxLimit caps the limit a caller may ask for.
	MaxLimit = 2000
	// MaxIDs caps GetPosts.
	MaxIDs = 1000
	// ChunkSize is the size of a GetBlob chunk.
	ChunkSize = 256 << 10
	// MaxAnswer bounds a GetPosts answer, in bytes, well under gRPC's 4 MiB message limit;
	// the caller asks again for the posts left out.
	MaxAnswer = 3 << 20
)

// Server answers kith.sync.v1 for one store. Register it on a grpc.Server built with
// transport.Credentials().
type Server struct {
	syncv1.UnimplementedSyncServiceServer
	st  *store.Store
	log *slog.Logger
	// caller finds the caller's key; transport.Caller in production.
	caller func(context.Context) (identity.PublicKey, bool)
	// now stamps public profiles; time.Now in production.
	now func() time.Time
	// kit seals this peer's own recovery kit.
	kit *OwnKit
	// requests bounds the friend requests taken from others (requests.go).
	requests requestLimiter
	// sealer keeps this peer's own parcels sealed (carry.go).
	sealer *carry.Sealer
	// invites are the join codes handed out (join.go); nil refuses every Join.
	invites *device.Invites
}

// NewServer returns a Server over st.
func NewServer(st *store.Store, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{st: st, log: log, caller: transport.Caller, now: time.Now, kit: NewOwnKit(st), sealer: carry.NewSealer(st, nil)}
}

// Kit returns the sealer of this peer's own recovery kit, which the server hands out:
// the node pushes the same copies.
func (s *Server) Kit() *OwnKit { return s.kit }

func (s *Server) who(ctx context.Context) (identity.PublicKey, error) {
	k, ok := s.caller(ctx)
	if !ok {
		return k, status.Error(codes.Unauthenticated, "the caller is not authenticated by the kith transport")
	}
	return k, nil
}

// Changes answers feed entries the caller may see.
func (s *Server) Changes(ctx context.Context, req *syncv1.ChangesRequest) (*syncv1.ChangesResponse, error) {
	k, err := s.who(ctx)
	if err != nil {
		return nil, err
	}
	if s.stranger(k) {
		// A stranger knows it is one; a friend who was removed learns it here, at its next
		// pull, instead of wondering why nothing private arrives any more.
		grpc.SetHeader(ctx, metadata.Pairs(RelationHeader, RelationStranger))
	}
	resp, err := s.changes(k, req.GetSince(), int(req.GetLimit()))
	if err != nil {
		return nil, err
	}
	ids := includedIDs(req.GetSince(), resp)
	if len(ids) == 0 {
		return resp, nil
	}
	if req.GetIncludePosts() {
		envs, err := s.st.VisiblePosts(k, ids)
		if err != nil {
			return nil, toStatus(err)
		}
		resp.Posts = fitAnswer(envs)
	}
	if req.GetIncludeConversations() {
		if err := s.includeConversations(k, ids, resp, MaxAnswer); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// includedIDs are the posts a Changes answer for since may include: the first MaxIDs
// of what a puller fetches for it (ParseChanges' Step.Fetch), so both ends name the same.
func includedIDs(since uint64, resp *syncv1.ChangesResponse) []post.ID {
	st, err := ParseChanges(since, resp)
	if err != nil {
		return nil
	}
	return st.included()
}

// includeConversations adds to resp what GetConversations would answer k for ids, as
// many whole conversations, in order, as fit budget bytes with the rest of resp.
func (s *Server) includeConversations(k identity.PublicKey, ids []post.ID, resp *syncv1.ChangesResponse, budget int) error {
	used, whole, full := proto.Size(resp), 0, false
	err := s.conversations(k, ids, func(msg *syncv1.GetConversationsResponse) error {
		if used += proto.Size(msg) + 8; used > budget {
			full = true // conversations turns the store's errors into a status: errAnswerFull does not come back as itself
			return errAnswerFull
		}
		resp.Conversations = append(resp.Conversations, msg)
		if msg.GetComplete() {
			whole = len(resp.Conversations)
		}
		return nil
	})
	resp.Conversations = resp.Conversations[:whole]
	if full {
		return nil
	}
	return err
}

// errAnswerFull stops includeConversations at the answer's size.
var errAnswerFull = errors.New("the answer is full")

// Header of a Changes answer that tells the caller how this node sees it.
const (
	// RelationHeader is the header's name.
	RelationHeader = "kith-relation"
	// RelationStranger says the caller is not a friend: it sees public posts only.
	RelationStranger = "stranger"
)

// stranger reports whether k is neither a friend nor this node's own key.
func (s *Server) stranger(k identity.PublicKey) bool {
	if own, err := s.st.Self(); err == nil && own == k {
		return false
	}
	_, err := s.st.Friend(k)
	return errors.Is(err, store.ErrNotFriend) || errors.Is(err, store.ErrNotFound)
}

func (s *Server) changes(k identity.PublicKey, since uint64, limit int) (*syncv1.ChangesResponse, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	pg, err := s.st.Changes(k, since, limit)
	if err != nil {
		return nil, toStatus(err)
	}
	return &syncv1.ChangesResponse{Changes: toWire(pg.Changes), LastSeq: pg.Last, More: pg.More}, nil
}

func toWire(cs []store.Change) []*syncv1.Change {
	out := make([]*syncv1.Change, 0, len(cs))
	for _, c := range cs {
		w := &syncv1.Change{Seq: c.Seq, PostId: c.ID[:], Version: c.Version, Kind: syncv1.ChangeKind_CHANGE_KIND_POST}
		if c.Kind == feed.Revoked {
			w.Kind = syncv1.ChangeKind_CHANGE_KIND_REVOKED
		}
		out = append(out, w)
	}
	return out
}

// GetPosts answers the envelopes among the ids that the caller may see.
func (s *Server) GetPosts(ctx context.Context, req *syncv1.GetPostsRequest) (*syncv1.GetPostsResponse, error) {
	k, err := s.who(ctx)
	if err != nil {
		return nil, err
	}
	if len(req.GetIds()) > MaxIDs {
		return nil, status.Errorf(codes.InvalidArgument, "%d ids, at most %d per call", len(req.GetIds()), MaxIDs)
	}
	ids := make([]post.ID, 0, len(req.GetIds()))
	for i, b := range req.GetIds() {
		id, err := post.ParseID(b)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "ids[%d]: %v", i, err)
		}
		ids = append(ids, id)
	}
	envs, err := s.st.VisiblePosts(k, ids)
	if err != nil {
		return nil, toStatus(err)
	}
	return &syncv1.GetPostsResponse{Posts: fitAnswer(envs)}, nil
}

// fitAnswer is the first of envs that fit MaxAnswer bytes, at least one: the caller
// asks again for the rest.
func fitAnswer(envs []*signedv1.Envelope) []*signedv1.Envelope {
	size := 0
	for i, env := range envs {
		if size += proto.Size(env) + 8; size > MaxAnswer && i > 0 {
			return envs[:i]
		}
	}
	return envs
}

// GetBlob streams a blob attached to a post the caller may see. A blob the caller may
// not see is answered exactly like a blob that does not exist.
func (s *Server) GetBlob(req *syncv1.GetBlobRequest, stream syncv1.SyncService_GetBlobServer) error {
	k, err := s.who(stream.Context())
	if err != nil {
		return err
	}
	if len(req.GetSha256()) != 32 {
		return status.Errorf(codes.InvalidArgument, "sha256 must be 32 bytes, got %d", len(req.GetSha256()))
	}
	ok, err := s.st.BlobVisible(k, req.GetSha256())
	if err != nil {
		return toStatus(err)
	}
	if !ok {
		return status.Errorf(codes.NotFound, "no blob %x", req.GetSha256())
	}
	f, size, err := s.st.OpenBlob(req.GetSha256())
	if err != nil {
		return toStatus(err)
	}
	defer f.Close()
	if req.GetOffset() > size {
		return status.Errorf(codes.OutOfRange, "offset %d is past the blob's %d bytes", req.GetOffset(), size)
	}
	buf := make([]byte, ChunkSize)
	for off := req.GetOffset(); off < size || (size == 0 && off == 0); {
		n, err := f.ReadAt(buf, int64(off))
		if n == 0 && err != nil && !errors.Is(err, io.EOF) {
			return toStatus(err)
		}
		if err := stream.Send(&syncv1.GetBlobResponse{Offset: off, Chunk: buf[:n], Size: size}); err != nil {
			return err
		}
		if n == 0 {
			break
		}
		off += uint64(n)
	}
	return nil
}

// Watch streams the caller's visible entries as they happen.
func (s *Server) Watch(req *syncv1.WatchRequest, stream syncv1.SyncService_WatchServer) error {
	k, err := s.who(stream.Context())
	if err != nil {
		return err
	}
	ctx := stream.Context()
	since := req.GetSince()
	for {
		changed := s.st.Changed()
		resp, err := s.changes(k, since, MaxLimit)
		if err != nil {
			return err
		}
		if len(resp.Changes) > 0 {
			if err := stream.Send(&syncv1.WatchResponse{Changes: resp.Changes, LastSeq: resp.LastSeq}); err != nil {
				return err
			}
		}
		since = resp.LastSeq
		if resp.More {
			continue
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

// Recover streams every post this peer holds that the caller authored, a page at a time.
// With kit_only, it sends only the caller's kit.
func (s *Server) Recover(req *syncv1.RecoverRequest, stream syncv1.SyncService_RecoverServer) error {
	k, err := s.who(stream.Context())
	if err != nil {
		return err
	}
	if err := s.sendKit(k, stream); err != nil || req.GetKitOnly() {
		return err
	}
	var after post.ID
	for {
		page, err := s.st.PostsAfter(k, after, 100)
		if err != nil {
			return toStatus(err)
		}
		for _, p := range page {
			if err := stream.Send(&syncv1.RecoverResponse{Post: p.Envelope}); err != nil {
				return err
			}
			after = p.ID()
		}
		if len(page) < 100 {
			return nil
		}
	}
}

// toStatus is the one place store errors become gRPC statuses.
func toStatus(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, store.ErrNeedIdentity): // a joined device cannot sign what needs the identity
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, fmt.Sprintf("internal error: %v", err))
}
