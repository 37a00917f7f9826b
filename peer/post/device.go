package post

import (
	"fmt"
	"time"

	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
	"google.golang.org/protobuf/proto"
)

// Posts written on a device (issue 16; docs/DESIGN.md "Devices: one person, several
// keys"): the payload's author is the person's identity, the envelope is signed by
// the device key and carries the device's certificate. Friends still see one author,
// one ID, one timeline.

// SealDevice is Seal for a post written on a device: author is the person's identity,
// dev the device key that signs, cert the certificate author's identity issued for it.
func SealDevice(dev *identity.Key, author identity.PublicKey, cert *signedv1.Envelope, d Draft) (*signedv1.Envelope, *postv1.Payload, error) {
	env, p, err := Seal(dev, d)
	if err != nil {
		return nil, nil, err
	}
	if dev.Public() == author {
		return env, p, nil
	}
	p.Author = author.Bytes()
	if err := Check(p); err != nil {
		return nil, nil, err
	}
	env, err = signed.Seal(dev, identity.ContextPost, p)
	if err != nil {
		return nil, nil, err
	}
	env.Certificate = cert
	return env, p, nil
}

// OpenChain verifies a post that must be authored by want and was signed by want's
// identity key or by one of want's devices: the exact bytes verify under the post
// context for the signer, the payload names want as author and obeys the rules, and a
// device signer holds a certificate from want valid at the post's updated time, not
// revoked at or before it (revoked: want's verified revocations). It returns the
// signing certificate (Key = want for the identity itself), whose key orders edits
// made while apart (device.Newer).
func OpenChain(env *signedv1.Envelope, want identity.PublicKey, revoked []device.Revocation) (*postv1.Payload, device.Certificate, error) {
	if env == nil {
		return nil, device.Certificate{}, signed.ErrMissing
	}
	signer, err := signed.Verify(env, identity.ContextPost, MaxEnvelope)
	if err != nil {
		return nil, device.Certificate{}, fmt.Errorf("open post: %w", err)
	}
	return chain(env, signer, want, revoked)
}

// OpenAllChain is OpenChain for many envelopes: their signatures are checked in batches
// on every core (signed.VerifyAll), then each chain. It returns the payloads and each
// envelope's error, in order: how a puller opens a whole step.
func OpenAllChain(envs []*signedv1.Envelope, want identity.PublicKey, revoked []device.Revocation) ([]*postv1.Payload, []error) {
	signers, errs := signed.VerifyAll(envs, identity.ContextPost, MaxEnvelope)
	out := make([]*postv1.Payload, len(envs))
	for i, env := range envs {
		if errs[i] != nil {
			errs[i] = fmt.Errorf("open post: %w", errs[i])
			continue
		}
		out[i], _, errs[i] = chain(env, signers[i], want, revoked)
	}
	return out, errs
}

// chain is OpenChain after the envelope's signature verified for signer.
func chain(env *signedv1.Envelope, signer, want identity.PublicKey, revoked []device.Revocation) (*postv1.Payload, device.Certificate, error) {
	p := new(postv1.Payload)
	if err := proto.Unmarshal(env.GetPayload(), p); err != nil {
		return nil, device.Certificate{}, fmt.Errorf("open post: %w: %v", signed.ErrMalformedPayload, err)
	}
	if err := signed.CheckKeyField(want, p.GetAuthor()); err != nil {
		return nil, device.Certificate{}, fmt.Errorf("open post: %w: %w", ErrWrongAuthor, err)
	}
	c, err := device.Check(want, signer, env.GetCertificate(), revoked, time.UnixMilli(p.GetUpdatedUnixMs()))
	if err != nil {
		return nil, c, fmt.Errorf("open post %x by %s: %w", prefix(p.GetId()), want.Short(), err)
	}
	if err := Check(p); err != nil {
		return nil, c, fmt.Errorf("open post: %w", err)
	}
	return p, c, nil
}
