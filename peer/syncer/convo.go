package syncer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// ConversationChunk is how many records one GetConversations message carries at most:
// with replies at their largest, well under gRPC's 4 MiB message limit.
const ConversationChunk = 100

// GetConversations streams the conversations of own posts among the ids that the
// caller may see. A post the caller may not see is left out exactly like an unknown one.
func (s *Server) GetConversations(req *syncv1.GetConversationsRequest, stream syncv1.SyncService_GetConversationsServer) error {
	k, err := s.who(stream.Context())
	if err != nil {
		return err
	}
	if len(req.GetPostIds()) > MaxIDs {
		return status.Errorf(codes.InvalidArgument, "%d ids, at most %d per call", len(req.GetPostIds()), MaxIDs)
	}
	ids := make([]post.ID, 0, len(req.GetPostIds()))
	for i, b := range req.GetPostIds() {
		id, err := post.ParseID(b)
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "post_ids[%d]: %v", i, err)
		}
		ids = append(ids, id)
	}
	return s.conversations(k, ids, stream.Send)
}

// conversations sends, for each of ids, the conversation of it that k may see, in
// messages of at most ConversationChunk records, its removed replies (to k's own
// devices only), and a message with complete set; nothing for a post it does not hold.
// An error of send ends it.
func (s *Server) conversations(k identity.PublicKey, ids []post.ID, send func(*syncv1.GetConversationsResponse) error) error {
	sent := revocationsSent{devices: map[identity.PublicKey]bool{}, revs: map[string]bool{}}
	for _, id := range ids {
		err := s.st.Conversation(k, id, ConversationChunk, func(recs []store.Record) error {
			msg := &syncv1.GetConversationsResponse{PostId: id[:]}
			for _, r := range recs {
				if r.Reply != nil {
					msg.Replies = append(msg.Replies, r.Envelope)
				} else {
					msg.Reactions = append(msg.Reactions, r.Envelope)
				}
				if err := s.withRevocations(msg, r, sent); err != nil {
					return err
				}
			}
			return send(msg)
		})
		if errors.Is(err, store.ErrNoSuchPost) {
			continue
		}
		if err != nil {
			return toConvoStatus(err)
		}
		if err := s.sendRemoved(send, k, id); err != nil {
			return toConvoStatus(err)
		}
		if err := send(&syncv1.GetConversationsResponse{PostId: id[:], Complete: true}); err != nil {
			return err
		}
	}
	return nil
}

// withRevocations adds to msg the revocations held for the author of r that name the
// device which signed r (by key or by device id: what device.Check looks at), when a
// device signed r and that device's were not sent in this stream yet, so that a reader
// who is not the author's friend can check r's chain (docs/DESIGN.md "A joined device
// speaks for its person in conversation"). Only that device's: a reader, a stranger
// too when the post is public, learns nothing of the person's other devices. The
// identity signed them: the host cannot forge one, only leave one out, which it could
// do as well by serving an older copy.
func (s *Server) withRevocations(msg *syncv1.GetConversationsResponse, r store.Record, sent revocationsSent) error {
	if r.Envelope.GetCertificate() == nil {
		return nil
	}
	raw := r.Reply.GetAuthor()
	if r.Reply == nil {
		raw = r.Reaction.GetAuthor()
	}
	author, err := identity.PublicKeyFromBytes(raw)
	if err != nil {
		return fmt.Errorf("held record: %w", err)
	}
	// The record's signer is its certificate's device key (checked when it was taken):
	// once that device's revocations went out, nothing more is opened for it.
	signer, err := identity.PublicKeyFromBytes(r.Envelope.GetSigner())
	if err != nil {
		return fmt.Errorf("held record: %w", err)
	}
	if sent.devices[signer] {
		return nil
	}
	sent.devices[signer] = true
	dev, err := device.Open(r.Envelope.GetCertificate(), author)
	if err != nil {
		return fmt.Errorf("held record: %w", err)
	}
	envs, err := s.st.RevocationEnvelopes(author)
	if err != nil {
		return err
	}
	for _, env := range envs {
		rev, err := device.OpenRevocation(env, author)
		if err != nil {
			return fmt.Errorf("held revocation: %w", err)
		}
		if (rev.Key == dev.Key || bytes.Equal(rev.ID, dev.ID)) && !sent.revs[string(env.GetSignature())] {
			sent.revs[string(env.GetSignature())] = true
			msg.Revocations = append(msg.Revocations, env)
		}
	}
	return nil
}

// revocationsSent is what one GetConversations stream has served of revocations: the
// device keys whose revocations went out, and each revocation (by signature), which a
// reader takes once per stream (a revocation may name two devices: by key the old
// one, by id a new one with the same id).
type revocationsSent struct {
	devices map[identity.PublicKey]bool
	revs    map[string]bool
}

// refused logs a record PutConversation or PutReplyBlob refuses: a revoked device's
// with its person and device key, so the person reading the log sees why.
func (s *Server) refused(what string, from identity.PublicKey, env *signedv1.Envelope, err error) {
	if errors.Is(err, device.ErrRevoked) {
		s.log.Warn("refused a "+what+" signed by a revoked device", "person", from.ID(), "device_key", identity.PublicKey(env.GetSigner()).Short(), "err", err)
		return
	}
	s.log.Warn("refused a "+what, "from", from.ID(), "err", err)
}

// PutConversation takes a reply or reaction the caller signed into the conversation of
// one of our posts that the caller may see. A record a device of the caller signed
// (v2) is checked against the revocations held for the caller.
func (s *Server) PutConversation(ctx context.Context, req *syncv1.PutConversationRequest) (*syncv1.PutConversationResponse, error) {
	k, err := s.who(ctx)
	if err != nil {
		return nil, err
	}
	// An if per kind of record, not a tagless switch, so that gremlins can see them tested.
	if env := req.GetReply(); env != nil {
		r, err := post.OpenReplyChain(env, s.st.Revocations)
		if err != nil {
			s.refused("reply", k, env, err)
			return nil, toConvoStatus(err)
		}
		if _, err := s.st.HostReply(k, env, r); err != nil {
			return nil, toConvoStatus(err)
		}
		return &syncv1.PutConversationResponse{}, nil
	}
	if env := req.GetReaction(); env != nil {
		r, err := post.OpenReactionChain(env, s.st.Revocations)
		if err != nil {
			s.refused("reaction", k, env, err)
			return nil, toConvoStatus(err)
		}
		if _, err := s.st.HostReaction(k, env, r); err != nil {
			return nil, toConvoStatus(err)
		}
		return &syncv1.PutConversationResponse{}, nil
	}
	return nil, status.Error(codes.InvalidArgument, "no reply or reaction given")
}

// toConvoStatus maps the errors of conversations to gRPC statuses, then the rest as
// toStatus does.
func toConvoStatus(err error) error {
	switch {
	case errors.Is(err, store.ErrNoSuchPost):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, store.ErrNotYours), errors.Is(err, store.ErrNotFriend), errors.Is(err, device.ErrRevoked),
		errors.Is(err, device.ErrNotCertified), errors.Is(err, device.ErrExpired), errors.Is(err, device.ErrNotValidYet):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, store.ErrRemoved), errors.Is(err, store.ErrBlobMissing):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, store.ErrConversationFull):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, post.ErrInvalid), errors.Is(err, post.ErrWrongAuthor), errors.Is(err, post.ErrIdentityV2), errors.Is(err, signed.ErrMissing),
		errors.Is(err, signed.ErrTooLarge), errors.Is(err, signed.ErrMalformedPayload), errors.Is(err, identity.ErrBadSignature),
		errors.Is(err, identity.ErrMalformedKey):
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return toStatus(err)
}

// FetchConversations asks host for the conversations of ids and verifies every record
// with its own author's key or, signed by a device, its chain to the author
// (post.OpenReplyChain, post.OpenReactionChain) with the revocations held gives and
// those the host serves with the records, as answering the post it came with, asked
// for and served complete, each record at most once. Anything that does not verify
// fails the fetch with ErrTampered, but a record a revoked device signed at or after its
// revocation (or outside its certificate) is left out with a log line on log (nil: no
// log), as a pull leaves out such a post. A host that does not serve conversations (an
// older kith) gives none.
func FetchConversations(ctx context.Context, c syncv1.SyncServiceClient, host identity.PublicKey, ids []post.ID, held post.Revocations, log *slog.Logger) ([]store.HeldConversation, error) {
	var out []store.HeldConversation
	for len(ids) > 0 {
		asked := ids[:min(len(ids), MaxIDs)]
		ids = ids[len(asked):]
		got, err := fetchConversations(ctx, c, host, asked, held, log)
		if status.Code(err) == codes.Unimplemented {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

func fetchConversations(ctx context.Context, c syncv1.SyncServiceClient, host identity.PublicKey, asked []post.ID, held post.Revocations, log *slog.Logger) ([]store.HeldConversation, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	want := make(map[post.ID]bool, len(asked))
	raw := make([][]byte, 0, len(asked))
	for _, id := range asked {
		want[id] = true
		raw = append(raw, id[:])
	}
	stream, err := c.GetConversations(ctx, &syncv1.GetConversationsRequest{PostIds: raw})
	if err != nil {
		return nil, fmt.Errorf("get conversations: %w", err)
	}
	return takeConversations(stream.Recv, want, host, held, log)
}

// includedConversations verifies the conversations a Changes answer included for the
// posts of want, as FetchConversations verifies GetConversations' answer; every one
// must be whole.
func includedConversations(msgs []*syncv1.GetConversationsResponse, want map[post.ID]bool, host identity.PublicKey, held post.Revocations, log *slog.Logger) ([]store.HeldConversation, error) {
	next := func() (*syncv1.GetConversationsResponse, error) {
		if len(msgs) == 0 {
			return nil, io.EOF
		}
		m := msgs[0]
		msgs = msgs[1:]
		return m, nil
	}
	return takeConversations(next, want, host, held, log)
}

// takeConversations reads the messages next gives (io.EOF at the end) as the answer to
// a GetConversations call for the posts of want (which it empties).
func takeConversations(next func() (*syncv1.GetConversationsResponse, error), want map[post.ID]bool, host identity.PublicKey, held post.Revocations, log *slog.Logger) ([]store.HeldConversation, error) {
	var out []store.HeldConversation
	var cur *store.HeldConversation
	seen := map[string]bool{}
	tampered := func(format string, a ...any) error {
		return fmt.Errorf("%w: conversation: %s", ErrTampered, fmt.Sprintf(format, a...))
	}
	served := servedRevocations{held: held, of: map[identity.PublicKey][]device.Revocation{}, seen: map[string]bool{}}
	for {
		msg, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("get conversations: %w", err)
		}
		id, err := post.ParseID(msg.GetPostId())
		if err != nil {
			return nil, tampered("%v", err)
		}
		if cur == nil || cur.PostID != id {
			if cur != nil || !want[id] {
				return nil, tampered("post %s was not asked for, or its chunks are not together", id)
			}
			delete(want, id)
			cur = &store.HeldConversation{PostID: id}
		}
		if err := served.take(msg.GetRevocations(), recordDevices(msg)); err != nil {
			return nil, tampered("%v", err)
		}
		if err := takeRemoved(cur, msg.GetRemoved()); err != nil {
			return nil, tampered("%v", err)
		}
		for _, env := range msg.GetReplies() {
			r, err := post.OpenReplyChain(env, served.revocations)
			if revokedPost(err) {
				logRevokedRecord(log, "reply", host, id, env, err)
				continue
			}
			if err != nil {
				return nil, tampered("%v", err)
			}
			if err := answers(r.GetPostAuthor(), r.GetPostId(), host, id, seen, "r", r.GetAuthor(), r.GetId()); err != nil {
				return nil, tampered("reply %x: %v", r.GetId(), err)
			}
			cur.Replies = append(cur.Replies, store.VerifiedReply{Envelope: env, Reply: r})
		}
		for _, env := range msg.GetReactions() {
			r, err := post.OpenReactionChain(env, served.revocations)
			if revokedPost(err) {
				logRevokedRecord(log, "reaction", host, id, env, err)
				continue
			}
			if err != nil {
				return nil, tampered("%v", err)
			}
			if err := answers(r.GetPostAuthor(), r.GetPostId(), host, id, seen, "x", r.GetAuthor(), nil); err != nil {
				return nil, tampered("reaction: %v", err)
			}
			cur.Reactions = append(cur.Reactions, store.VerifiedReaction{Envelope: env, Reaction: r})
		}
		if msg.GetComplete() {
			out = append(out, *cur)
			cur = nil
		}
	}
	if cur != nil {
		return nil, tampered("post %s's conversation ended incomplete", cur.PostID)
	}
	return out, nil
}

// answers checks that a record names (host, id) as the post it answers, and that its
// key was not served before in this answer.
func answers(postAuthor, postID []byte, host identity.PublicKey, id post.ID, seen map[string]bool, kind string, author, rid []byte) error {
	if string(postAuthor) != string(host[:]) || string(postID) != string(id[:]) {
		return errors.New("it answers another post than the one it came with")
	}
	k := kind + string(author) + string(rid)
	if seen[k] {
		return errors.New("served twice")
	}
	seen[k] = true
	return nil
}

// Deliver hands one own record to the host of the post it answers: a reply's
// attachments first (from blobs), then the record.
func Deliver(ctx context.Context, c syncv1.SyncServiceClient, blobs BlobOpener, rec store.Record) error {
	req := &syncv1.PutConversationRequest{}
	if rec.Reply != nil {
		if err := deliverBlobs(ctx, c, blobs, rec.Envelope, rec.Reply); err != nil {
			return err
		}
		req.Record = &syncv1.PutConversationRequest_Reply{Reply: rec.Envelope}
	} else {
		req.Record = &syncv1.PutConversationRequest_Reaction{Reaction: rec.Envelope}
	}
	_, err := c.PutConversation(ctx, req)
	return err
}
