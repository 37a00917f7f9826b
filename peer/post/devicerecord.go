package post

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// Replies and reactions written on a joined device (issue 16; docs/DESIGN.md "A joined
// device speaks for its person in conversation"). They are versioned by their
// signature contexts: kith/reply/v2 and kith/reaction/v2 mean "the payload's author is
// a person, a device of theirs signed it, and the envelope carries the device's
// certificate". Records the identity signs stay v1 (author = signer), so a verifier
// that knows no revocations (OpenReply, OpenReaction) never accepts a device.

// ErrIdentityV2 means a v2 record was signed by the identity key itself: the identity
// signs v1 records, so each signer has exactly one form.
var ErrIdentityV2 = errors.New("a device record (v2) signed by the identity itself; the identity signs v1 records")

// Revocations returns the verified device revocations a verifier holds for person (nil
// when it holds none). The chain of a device record is checked against them.
type Revocations func(person identity.PublicKey) ([]device.Revocation, error)

// SealReplyAs is SealReply for whoever signs for person: the identity key itself (a
// v1 reply), or a device key dev of person's with its certificate cert (a v2 reply
// whose author is person).
func SealReplyAs(dev *identity.Key, person identity.PublicKey, cert *signedv1.Envelope, d ReplyDraft) (*signedv1.Envelope, *postv1.Reply, error) {
	env, r, err := SealReply(dev, d)
	if err != nil || dev.Public() == person {
		return env, r, err
	}
	r.Author = person.Bytes()
	env, err = signed.Seal(dev, identity.ContextDeviceReply, r)
	if err != nil {
		return nil, nil, err
	}
	env.Certificate = cert
	return env, r, nil
}

// SealReactionAs is SealReplyAs for a reaction (kith/reaction/v2 from a device).
func SealReactionAs(dev *identity.Key, person identity.PublicKey, cert *signedv1.Envelope, d ReactionDraft) (*signedv1.Envelope, *postv1.Reaction, error) {
	env, r, err := SealReaction(dev, d)
	if err != nil || dev.Public() == person {
		return env, r, err
	}
	r.Author = person.Bytes()
	env, err = signed.Seal(dev, identity.ContextDeviceReaction, r)
	if err != nil {
		return nil, nil, err
	}
	env.Certificate = cert
	return env, r, nil
}

// OpenReplyChain verifies a reply signed by its author's identity (exactly as
// OpenReply) or, when the envelope carries a certificate, by one of the author's
// devices: the exact bytes verify under kith/reply/v2 for a key other than the
// author's, and device.Check accepts that key for the author at the reply's updated
// time with the revocations revoked gives for the author.
func OpenReplyChain(env *signedv1.Envelope, revoked Revocations) (*postv1.Reply, error) {
	if env.GetCertificate() == nil {
		return OpenReply(env)
	}
	r := new(postv1.Reply)
	if err := openChained(env, identity.ContextDeviceReply, MaxReplyEnvelope, r, revoked,
		func() ([]byte, int64) { return r.GetAuthor(), r.GetUpdatedUnixMs() }); err != nil {
		return nil, fmt.Errorf("open reply: %w", err)
	}
	if err := CheckReply(r); err != nil {
		return nil, fmt.Errorf("open reply: %w", err)
	}
	return r, nil
}

// OpenReactionChain is OpenReplyChain for a reaction (kith/reaction/v2 from a device).
func OpenReactionChain(env *signedv1.Envelope, revoked Revocations) (*postv1.Reaction, error) {
	if env.GetCertificate() == nil {
		return OpenReaction(env)
	}
	r := new(postv1.Reaction)
	if err := openChained(env, identity.ContextDeviceReaction, MaxReactionEnvelope, r, revoked,
		func() ([]byte, int64) { return r.GetAuthor(), r.GetUpdatedUnixMs() }); err != nil {
		return nil, fmt.Errorf("open reaction: %w", err)
	}
	if err := CheckReaction(r); err != nil {
		return nil, fmt.Errorf("open reaction: %w", err)
	}
	return r, nil
}

// openChained verifies env under ctx for its signer, parses it into msg, and checks the
// signer's chain to the author msg names (authorAt gives it and the record's time).
func openChained(env *signedv1.Envelope, ctx identity.Context, max int, msg proto.Message, revoked Revocations, authorAt func() ([]byte, int64)) error {
	signer, err := signed.Verify(env, ctx, max)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(env.GetPayload(), msg); err != nil {
		return fmt.Errorf("%w: %v", signed.ErrMalformedPayload, err)
	}
	raw, at := authorAt()
	person, err := identity.PublicKeyFromBytes(raw)
	if err != nil {
		return fmt.Errorf("%w: author: %w", ErrWrongAuthor, err)
	}
	if person == signer {
		return ErrIdentityV2
	}
	var revs []device.Revocation
	if revoked != nil {
		if revs, err = revoked(person); err != nil {
			return fmt.Errorf("revocations of %s: %w", person.Short(), err)
		}
	}
	if _, err := device.Check(person, signer, env.GetCertificate(), revs, time.UnixMilli(at)); err != nil {
		return fmt.Errorf("by %s: %w", person.Short(), err)
	}
	return nil
}
