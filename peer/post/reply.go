package post

import (
	"crypto/ed25519"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// Limits of conversation records.
const (
	// MaxReplyText is the longest text a reply may carry, in bytes of UTF-8.
	MaxReplyText = 16 << 10
	// MaxReplyAttachments is the most attachments one reply may carry.
	MaxReplyAttachments = 8
	// MaxReplyAttachmentSize is the largest attachment of a reply, in bytes: the post's
	// author stores and serves it for a friend, so a reply carries photos, not films.
	MaxReplyAttachmentSize = 16 << 20
	// MaxMentions is the most people one reply may mention.
	MaxMentions = 32
	// MaxEmoji bounds a reaction's emoji, in bytes.
	MaxEmoji = 32
	// MaxReplyEnvelope bounds a reply envelope's payload before any cryptography.
	MaxReplyEnvelope = MaxReplyText + MaxReplyAttachments*600 + MaxMentions*40 + 1024
	// MaxReactionEnvelope bounds a reaction envelope's payload.
	MaxReactionEnvelope = 512
)

// ReplyDraft is what a replier writes; SealReply turns it into a signed reply.
type ReplyDraft struct {
	// ID is the reply's id; a random one when zero (a new reply).
	ID ID
	// Version is 1 for a new reply, the previous version + 1 after.
	Version uint64
	// Created is when version 1 was written; Now when zero.
	Created time.Time
	// Now is the time of this version.
	Now time.Time
	// PostAuthor and PostID name the post answered.
	PostAuthor identity.PublicKey
	PostID     ID
	// Text is the reply's text.
	Text string
	// Attachments are the reply's blobs.
	Attachments []*postv1.Attachment
	// Public is the replier's consent to strangers seeing it (the post is public).
	Public bool
	// Deleted makes a tombstone.
	Deleted bool
	// Mentions are the people the text mentions.
	Mentions []identity.PublicKey
}

// SealReply checks d, then builds and signs its payload with k (context kith/reply/v1).
func SealReply(k *identity.Key, d ReplyDraft) (*signedv1.Envelope, *postv1.Reply, error) {
	if d.ID == (ID{}) {
		id, err := NewID(nil)
		if err != nil {
			return nil, nil, err
		}
		d.ID = id
	}
	if d.Version == 0 {
		d.Version = 1
	}
	if d.Created.IsZero() {
		d.Created = d.Now
	}
	r := &postv1.Reply{
		Id: d.ID[:], Author: k.Public().Bytes(), PostAuthor: d.PostAuthor.Bytes(), PostId: d.PostID[:],
		Version: d.Version, CreatedUnixMs: d.Created.UnixMilli(), UpdatedUnixMs: d.Now.UnixMilli(),
		Text: d.Text, Attachments: d.Attachments, Visibility: visibility(d.Public), Deleted: d.Deleted,
	}
	for _, m := range d.Mentions {
		r.Mentions = append(r.Mentions, m.Bytes())
	}
	if err := CheckReply(r); err != nil {
		return nil, nil, err
	}
	env, err := signed.Seal(k, identity.ContextReply, r)
	return env, r, err
}

func visibility(public bool) postv1.Visibility {
	if public {
		return postv1.Visibility_VISIBILITY_PUBLIC
	}
	return postv1.Visibility_VISIBILITY_PRIVATE
}

// CheckReply applies the rules of a reply to a payload, whoever made it.
func CheckReply(r *postv1.Reply) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: reply: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	if len(r.GetId()) != IDSize || len(r.GetPostId()) != IDSize {
		return bad("id and post id must be %d bytes", IDSize)
	}
	if len(r.GetPostAuthor()) != ed25519.PublicKeySize {
		return bad("post author must be a %d-byte key", ed25519.PublicKeySize)
	}
	if r.GetVersion() == 0 {
		return bad("version must be at least 1")
	}
	if len(r.GetText()) > MaxReplyText {
		return bad("text is %d bytes, the limit is %d (16 KiB)", len(r.GetText()), MaxReplyText)
	}
	if !utf8.ValidString(r.GetText()) {
		return bad("text is not valid UTF-8")
	}
	if !r.GetDeleted() && strings.TrimSpace(r.GetText()) == "" && len(r.GetAttachments()) == 0 {
		return bad("a reply needs text or an attachment")
	}
	if len(r.GetAttachments()) > MaxReplyAttachments {
		return bad("%d attachments, the limit is %d", len(r.GetAttachments()), MaxReplyAttachments)
	}
	if len(r.GetMentions()) > MaxMentions {
		return bad("%d mentions, the limit is %d", len(r.GetMentions()), MaxMentions)
	}
	if r.GetVisibility() != postv1.Visibility_VISIBILITY_PRIVATE && r.GetVisibility() != postv1.Visibility_VISIBILITY_PUBLIC {
		return bad("visibility must be private or public")
	}
	if r.GetUpdatedUnixMs() < r.GetCreatedUnixMs() {
		return bad("updated before created")
	}
	if r.GetDeleted() && (r.GetText() != "" || len(r.GetAttachments()) > 0 || len(r.GetMentions()) > 0) {
		return bad("a deleted reply must have no text, attachments or mentions")
	}
	for i, m := range r.GetMentions() {
		if len(m) != ed25519.PublicKeySize {
			return bad("mention %d is not a key", i)
		}
	}
	for i, a := range r.GetAttachments() {
		if err := checkAttachment(a); err != nil {
			return bad("attachment %d: %v", i, err)
		}
		if a.GetSize() > MaxReplyAttachmentSize {
			return bad("attachment %d is %d bytes, the limit for a reply is %d (16 MiB)", i, a.GetSize(), MaxReplyAttachmentSize)
		}
	}
	return nil
}

// OpenReply verifies a reply envelope and parses it: the exact bytes verify under
// kith/reply/v1, the payload names its signer as author and obeys the rules. Anyone may
// be the signer: a reader checks the replier's own key, friend or not.
func OpenReply(env *signedv1.Envelope) (*postv1.Reply, error) {
	r := new(postv1.Reply)
	if err := open(env, identity.ContextReply, MaxReplyEnvelope, r, func() []byte { return r.GetAuthor() }); err != nil {
		return nil, fmt.Errorf("open reply: %w", err)
	}
	if err := CheckReply(r); err != nil {
		return nil, fmt.Errorf("open reply: %w", err)
	}
	return r, nil
}

// ReactionDraft is a person's reaction to a post.
type ReactionDraft struct {
	// PostAuthor and PostID name the post.
	PostAuthor identity.PublicKey
	PostID     ID
	// Version is the previous version + 1 (1 for the first).
	Version uint64
	// Now is the time of this version.
	Now time.Time
	// Emoji is one emoji; empty withdraws the reaction.
	Emoji string
	// Public: as in ReplyDraft.
	Public bool
}

// SealReaction checks d, then signs it with k (context kith/reaction/v1).
func SealReaction(k *identity.Key, d ReactionDraft) (*signedv1.Envelope, *postv1.Reaction, error) {
	if d.Version == 0 {
		d.Version = 1
	}
	r := &postv1.Reaction{Author: k.Public().Bytes(), PostAuthor: d.PostAuthor.Bytes(), PostId: d.PostID[:],
		Version: d.Version, UpdatedUnixMs: d.Now.UnixMilli(), Emoji: d.Emoji, Visibility: visibility(d.Public)}
	if err := CheckReaction(r); err != nil {
		return nil, nil, err
	}
	env, err := signed.Seal(k, identity.ContextReaction, r)
	return env, r, err
}

// CheckReaction applies the rules of a reaction.
func CheckReaction(r *postv1.Reaction) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: reaction: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	if len(r.GetPostId()) != IDSize {
		return bad("post id must be %d bytes", IDSize)
	}
	if len(r.GetPostAuthor()) != ed25519.PublicKeySize {
		return bad("post author must be a %d-byte key", ed25519.PublicKeySize)
	}
	if r.GetVersion() == 0 {
		return bad("version must be at least 1")
	}
	if r.GetVisibility() != postv1.Visibility_VISIBILITY_PRIVATE && r.GetVisibility() != postv1.Visibility_VISIBILITY_PUBLIC {
		return bad("visibility must be private or public")
	}
	if r.GetEmoji() != "" && !IsEmoji(r.GetEmoji()) {
		return bad("%q is not a single emoji", clip(r.GetEmoji()))
	}
	return nil
}

// OpenReaction verifies and parses a reaction envelope, as OpenReply does a reply.
func OpenReaction(env *signedv1.Envelope) (*postv1.Reaction, error) {
	r := new(postv1.Reaction)
	if err := open(env, identity.ContextReaction, MaxReactionEnvelope, r, func() []byte { return r.GetAuthor() }); err != nil {
		return nil, fmt.Errorf("open reaction: %w", err)
	}
	if err := CheckReaction(r); err != nil {
		return nil, fmt.Errorf("open reaction: %w", err)
	}
	return r, nil
}

// open verifies env under ctx (payload bounded at max), parses it into msg and checks
// that the key field author names the signer.
func open(env *signedv1.Envelope, ctx identity.Context, max int, msg proto.Message, author func() []byte) error {
	if env == nil {
		return signed.ErrMissing
	}
	signer, err := signed.Verify(env, ctx, max)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(env.GetPayload(), msg); err != nil {
		return fmt.Errorf("%w: %v", signed.ErrMalformedPayload, err)
	}
	if err := signed.CheckKeyField(signer, author()); err != nil {
		return fmt.Errorf("%w: %w", ErrWrongAuthor, err)
	}
	return nil
}
