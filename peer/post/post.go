// Package post builds and verifies kith's signed posts: the kith.post.v1 payload inside a
// signed envelope, with the limits every peer enforces.
package post

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// Limits every post must respect.
const (
	// MaxText is the longest text a post may carry, in bytes of UTF-8.
	MaxText = 64 << 10
	// MaxAttachments is the most attachments one post may carry.
	MaxAttachments = 32
	// MaxAttachmentSize is the largest attachment, in bytes.
	MaxAttachmentSize = 1 << 30
	// MaxHashtags is the most hashtags one post may carry.
	MaxHashtags = 64
	// MaxEnvelope bounds a post envelope's payload before any cryptography.
	MaxEnvelope = MaxText + MaxAttachments*600 + MaxHashtags*200 + MaxMentions*40 + 1024
	// IDSize is the length of a post id.
	IDSize = 16
)

// Errors a caller may test for with errors.Is.
var (
	// ErrInvalid means a post breaks one of the rules of kith.post.v1 (the message says which).
	ErrInvalid = errors.New("invalid post")
	// ErrWrongAuthor means a post verifies but names or is signed by someone unexpected.
	ErrWrongAuthor = errors.New("post is not by the expected author")
)

// ID is a post's random 128-bit identifier.
type ID [IDSize]byte

// NewID returns a random post id read from rand (crypto/rand.Reader when nil).
func NewID(r io.Reader) (ID, error) {
	var id ID
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, id[:]); err != nil {
		return id, fmt.Errorf("new post id: %w", err)
	}
	return id, nil
}

// ParseID parses a post id from its bytes.
func ParseID(b []byte) (ID, error) {
	var id ID
	if len(b) != IDSize {
		return id, fmt.Errorf("%w: id must be %d bytes, got %d", ErrInvalid, IDSize, len(b))
	}
	copy(id[:], b)
	return id, nil
}

// String returns the id as 32 hex digits.
func (id ID) String() string { return fmt.Sprintf("%x", id[:]) }

// ParseIDString parses the 32-hex-digit form String returns.
func ParseIDString(s string) (ID, error) {
	var id ID
	if len(s) != 2*IDSize {
		return id, fmt.Errorf("%w: post id %q: want %d hex digits", ErrInvalid, clip(s), 2*IDSize)
	}
	b, err := hex.DecodeString(s)
	if err != nil || hex.EncodeToString(b) != s {
		return id, fmt.Errorf("%w: post id %q is not lowercase hexadecimal", ErrInvalid, clip(s))
	}
	copy(id[:], b)
	return id, nil
}

// Draft is what an author writes; Seal turns it into a signed post.
type Draft struct {
	// ID is the post's id; Seal draws a random one when zero (a new post).
	ID ID
	// Version is the version to sign: 1 for a new post, the previous version + 1 after.
	Version uint64
	// Created is when version 1 was written; Seal uses Now for version 1 when zero.
	Created time.Time
	// Now is the time of this version.
	Now time.Time
	// Text is the post's text; its hashtags are parsed from it.
	Text string
	// Attachments are the post's blobs, in order.
	Attachments []*postv1.Attachment
	// Public makes the visibility class public; otherwise it is private.
	Public bool
	// Deleted makes a tombstone: Text and Attachments must be empty.
	Deleted bool
	// Mentions are the people the text mentions (at most MaxMentions).
	Mentions []identity.PublicKey
}

// Seal checks d, then builds and signs its payload with k.
func Seal(k *identity.Key, d Draft) (*signedv1.Envelope, *postv1.Payload, error) {
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
	vis := postv1.Visibility_VISIBILITY_PRIVATE
	if d.Public {
		vis = postv1.Visibility_VISIBILITY_PUBLIC
	}
	pub := k.Public()
	p := &postv1.Payload{
		Id:            d.ID[:],
		Author:        pub.Bytes(),
		Version:       d.Version,
		CreatedUnixMs: d.Created.UnixMilli(),
		UpdatedUnixMs: d.Now.UnixMilli(),
		Text:          d.Text,
		Hashtags:      Hashtags(d.Text),
		Attachments:   d.Attachments,
		Visibility:    vis,
		Deleted:       d.Deleted,
	}
	for _, m := range d.Mentions {
		p.Mentions = append(p.Mentions, m.Bytes())
	}
	if err := Check(p); err != nil {
		return nil, nil, err
	}
	env, err := signed.Seal(k, identity.ContextPost, p)
	if err != nil {
		return nil, nil, err
	}
	return env, p, nil
}

// Check applies the rules of kith.post.v1 to a payload, whoever made it.
func Check(p *postv1.Payload) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	// An if per rule, not a tagless switch: Go's coverage has no counter for a case's
	// condition, so `make mutate` (gremlins) could not tell these rules are tested.
	if len(p.GetId()) != IDSize {
		return bad("id must be %d bytes, got %d", IDSize, len(p.GetId()))
	}
	if p.GetVersion() == 0 {
		return bad("version must be at least 1")
	}
	if len(p.GetText()) > MaxText {
		return bad("text is %d bytes, the limit is %d (64 KiB)", len(p.GetText()), MaxText)
	}
	if !utf8.ValidString(p.GetText()) {
		return bad("text is not valid UTF-8")
	}
	if len(p.GetAttachments()) > MaxAttachments {
		return bad("%d attachments, the limit is %d", len(p.GetAttachments()), MaxAttachments)
	}
	if len(p.GetHashtags()) > MaxHashtags {
		return bad("%d hashtags, the limit is %d", len(p.GetHashtags()), MaxHashtags)
	}
	if p.GetVisibility() != postv1.Visibility_VISIBILITY_PRIVATE && p.GetVisibility() != postv1.Visibility_VISIBILITY_PUBLIC {
		return bad("visibility must be private or public, got %v", p.GetVisibility())
	}
	if p.GetUpdatedUnixMs() < p.GetCreatedUnixMs() {
		return bad("updated before created")
	}
	if p.GetDeleted() && (p.GetText() != "" || len(p.GetAttachments()) > 0 || len(p.GetMentions()) > 0) {
		return bad("a deleted post (tombstone) must have no text, attachments or mentions")
	}
	if len(p.GetMentions()) > MaxMentions {
		return bad("%d mentions, the limit is %d", len(p.GetMentions()), MaxMentions)
	}
	for i, m := range p.GetMentions() {
		if len(m) != ed25519.PublicKeySize {
			return bad("mention %d is not a key", i)
		}
	}
	for i, a := range p.GetAttachments() {
		if err := checkAttachment(a); err != nil {
			return bad("attachment %d: %v", i, err)
		}
	}
	return nil
}

func checkAttachment(a *postv1.Attachment) error {
	if len(a.GetSha256()) != 32 {
		return fmt.Errorf("sha256 must be 32 bytes, got %d", len(a.GetSha256()))
	}
	if a.GetSize() > MaxAttachmentSize {
		return fmt.Errorf("%d bytes, the limit is %d (1 GiB)", a.GetSize(), MaxAttachmentSize)
	}
	if len(a.GetMediaType()) > 255 || !utf8.ValidString(a.GetMediaType()) {
		return errors.New("media type is not a short UTF-8 string")
	}
	name := a.GetFileName()
	if len(name) > 255 || !utf8.ValidString(name) {
		return errors.New("file name is not a short UTF-8 string")
	}
	if name != "" && (path.Base(name) != name || strings.ContainsAny(name, `/\`) || name == ".." || name == ".") {
		return fmt.Errorf("file name %q must not name a directory", name)
	}
	return nil
}

// Open verifies a post envelope and parses it: the exact signed bytes verify under the
// post context, the payload obeys the rules, and it names its signer as author.
func Open(env *signedv1.Envelope) (*postv1.Payload, error) {
	if env == nil {
		return nil, signed.ErrMissing
	}
	signer, err := signed.Verify(env, identity.ContextPost, MaxEnvelope)
	if err != nil {
		return nil, fmt.Errorf("open post: %w", err)
	}
	p, _, err := chain(env, signer, signer, nil) // signed by its author: no device to check
	return p, err
}

// OpenFrom is Open for a post that must be authored by want.
func OpenFrom(env *signedv1.Envelope, want identity.PublicKey) (*postv1.Payload, error) {
	if env != nil && string(env.GetSigner()) != string(want[:]) {
		return nil, fmt.Errorf("open post: %w: signed by %x..., want %s", ErrWrongAuthor, prefix(env.GetSigner()), want.Short())
	}
	return Open(env)
}

func prefix(b []byte) []byte {
	if len(b) > 4 {
		return b[:4]
	}
	return b
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
