package syncer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
)

// PutReplyBlob takes one attachment of a reply the caller signed, for a post of ours the
// caller may see, before the reply itself: the same rules as PutConversation decide
// (store.ReplyBlobWanted), and only bytes that hash to the named attachment, of its
// size, are kept. Anything else is refused and nothing is stored.
func (s *Server) PutReplyBlob(stream syncv1.SyncService_PutReplyBlobServer) error {
	k, err := s.who(stream.Context())
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if len(first.GetSha256()) != 32 || len(first.GetChunk()) > 0 {
		return status.Error(codes.InvalidArgument, "the first message names the reply and the 32-byte sha256 of its attachment, and carries no bytes")
	}
	r, err := post.OpenReplyChain(first.GetReply(), s.st.Revocations)
	if err != nil {
		s.refused("reply's attachment", k, first.GetReply(), err)
		return toConvoStatus(err)
	}
	att, held, err := s.st.ReplyBlobWanted(k, r, first.GetSha256())
	if err != nil {
		return toConvoStatus(err)
	}
	if held {
		return stream.SendAndClose(&syncv1.PutReplyBlobResponse{HeldAlready: true})
	}
	w, err := s.st.NewBlob()
	if err != nil {
		return toStatus(err)
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			w.Abort()
			return err
		}
		if msg.GetReply() != nil || len(msg.GetSha256()) > 0 || len(msg.GetChunk()) == 0 || len(msg.GetChunk()) > ChunkSize {
			w.Abort()
			return status.Errorf(codes.InvalidArgument, "after the first message only chunks of 1 to %d bytes", ChunkSize)
		}
		if w.Size()+uint64(len(msg.GetChunk())) > att.GetSize() {
			w.Abort()
			return status.Errorf(codes.InvalidArgument, "%v: more than the attachment's %d bytes", store.ErrBlobMismatch, att.GetSize())
		}
		if _, err := w.Write(msg.GetChunk()); err != nil {
			w.Abort()
			return toStatus(err)
		}
	}
	if _, err := w.Commit(att); err != nil {
		if errors.Is(err, store.ErrBlobMismatch) {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		return toStatus(err)
	}
	return stream.SendAndClose(&syncv1.PutReplyBlobResponse{})
}

// BlobOpener opens stored blobs (a *store.Store).
type BlobOpener interface {
	OpenBlob(sha []byte) (*os.File, uint64, error)
}

// deliverBlobs hands the host every attachment of an own reply, before the reply.
func deliverBlobs(ctx context.Context, c syncv1.SyncServiceClient, blobs BlobOpener, env *signedv1.Envelope, r *postv1.Reply) error {
	for _, a := range r.GetAttachments() {
		if err := putReplyBlob(ctx, c, blobs, env, a); err != nil {
			return fmt.Errorf("hand over attachment %x: %w", a.GetSha256()[:8], err)
		}
	}
	return nil
}

func putReplyBlob(ctx context.Context, c syncv1.SyncServiceClient, blobs BlobOpener, env *signedv1.Envelope, a *postv1.Attachment) error {
	f, _, err := blobs.OpenBlob(a.GetSha256())
	if err != nil {
		return err
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.PutReplyBlob(ctx)
	if err != nil {
		return err
	}
	// A Send that meets io.EOF means the host answered early (it holds the blob, or
	// refused): CloseAndRecv tells which.
	err = stream.Send(&syncv1.PutReplyBlobRequest{Reply: env, Sha256: a.GetSha256()})
	buf := make([]byte, ChunkSize)
	for err == nil {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 {
			err = stream.Send(&syncv1.PutReplyBlobRequest{Chunk: buf[:n]})
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break // the whole file is sent
		}
		if rerr != nil {
			return rerr
		}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	_, err = stream.CloseAndRecv()
	return err
}
