package post

import (
	"errors"
	"testing"
	"time"

	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
	"google.golang.org/protobuf/proto"
)

// chainFixture is a person (alice) with a certified device (laptop) revoked at revAt,
// a stranger bob, and a post of bob's that the records answer.
type chainFixture struct {
	t0, revAt                 time.Time
	alice, laptop, bob, other *identity.Key
	cert, bobsCert, otherCert *signedv1.Envelope
	rev                       device.Revocation
	postID                    ID
}

func newChainFixture(t *testing.T) chainFixture {
	t.Helper()
	f := chainFixture{t0: time.UnixMilli(1_800_000_000_000), alice: newKey(t), laptop: newKey(t), bob: newKey(t), other: newKey(t)}
	f.revAt = f.t0.Add(time.Hour)
	var err error
	if f.cert, err = device.Issue(f.alice, f.laptop.Public(), []byte("laptop01"), f.t0, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if f.bobsCert, err = device.Issue(f.bob, f.laptop.Public(), []byte("laptop01"), f.t0, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	// A certificate of alice's, but for another key than the one that signs.
	if f.otherCert, err = device.Issue(f.alice, f.other.Public(), []byte("phone001"), f.t0, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	c, err := device.Open(f.cert, f.alice.Public())
	if err != nil {
		t.Fatal(err)
	}
	revEnv, err := device.Revoke(f.alice, c, f.revAt)
	if err != nil {
		t.Fatal(err)
	}
	if f.rev, err = device.OpenRevocation(revEnv, f.alice.Public()); err != nil {
		t.Fatal(err)
	}
	f.postID[0] = 7
	return f
}

// revocations gives alice's revocation to a verifier that holds it.
func (f chainFixture) revocations(person identity.PublicKey) ([]device.Revocation, error) {
	if person == f.alice.Public() {
		return []device.Revocation{f.rev}, nil
	}
	return nil, nil
}

func (f chainFixture) reply(t *testing.T, dev *identity.Key, person identity.PublicKey, cert *signedv1.Envelope, at time.Time) *signedv1.Envelope {
	t.Helper()
	env, r, err := SealReplyAs(dev, person, cert, ReplyDraft{Now: at, PostAuthor: f.bob.Public(), PostID: f.postID, Text: "hello from a device"})
	if err != nil {
		t.Fatal(err)
	}
	if string(r.GetAuthor()) != string(person.Bytes()) {
		t.Fatalf("the reply's author is %x, want the person", r.GetAuthor())
	}
	return env
}

func (f chainFixture) reaction(t *testing.T, dev *identity.Key, person identity.PublicKey, cert *signedv1.Envelope, at time.Time) *signedv1.Envelope {
	t.Helper()
	env, r, err := SealReactionAs(dev, person, cert, ReactionDraft{Now: at, PostAuthor: f.bob.Public(), PostID: f.postID, Emoji: "👍"})
	if err != nil {
		t.Fatal(err)
	}
	if string(r.GetAuthor()) != string(person.Bytes()) {
		t.Fatalf("the reaction's author is %x, want the person", r.GetAuthor())
	}
	return env
}

// sealWith signs m with k under ctx and attaches cert: a record as anyone could forge it.
func sealWith(t *testing.T, k *identity.Key, ctx identity.Context, m proto.Message, cert *signedv1.Envelope) *signedv1.Envelope {
	t.Helper()
	env, err := signed.Seal(k, ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	env.Certificate = cert
	return env
}

// withAuthor re-signs env's record naming author, with k under ctx, carrying cert.
func withAuthor(t *testing.T, env *signedv1.Envelope, author identity.PublicKey, k *identity.Key, ctx identity.Context, cert *signedv1.Envelope) *signedv1.Envelope {
	t.Helper()
	var m interface {
		proto.Message
	}
	switch ctx {
	case identity.ContextReply, identity.ContextDeviceReply:
		r := new(postv1.Reply)
		if err := proto.Unmarshal(env.GetPayload(), r); err != nil {
			t.Fatal(err)
		}
		r.Author = author.Bytes()
		m = r
	default:
		r := new(postv1.Reaction)
		if err := proto.Unmarshal(env.GetPayload(), r); err != nil {
			t.Fatal(err)
		}
		r.Author = author.Bytes()
		m = r
	}
	return sealWith(t, k, ctx, m, cert)
}

func stripCert(env *signedv1.Envelope) *signedv1.Envelope {
	c := proto.Clone(env).(*signedv1.Envelope)
	c.Certificate = nil
	return c
}

func withCert(env, cert *signedv1.Envelope) *signedv1.Envelope {
	c := proto.Clone(env).(*signedv1.Envelope)
	c.Certificate = cert
	return c
}

// TestDeviceRecords: a reply or reaction written on a certified device is the person's
// (author = the identity) and opens with the chain; every broken link is refused, and
// records the identity signs keep v1's strict rule.
func TestDeviceRecords(t *testing.T) {
	f := newChainFixture(t)
	alice, laptop := f.alice.Public(), f.laptop
	before, after := f.revAt.Add(-time.Millisecond), f.revAt
	type open func(*signedv1.Envelope, Revocations) ([]byte, error)
	openReply := func(env *signedv1.Envelope, rv Revocations) ([]byte, error) {
		r, err := OpenReplyChain(env, rv)
		return r.GetAuthor(), err
	}
	openReaction := func(env *signedv1.Envelope, rv Revocations) ([]byte, error) {
		r, err := OpenReactionChain(env, rv)
		return r.GetAuthor(), err
	}
	kinds := []struct {
		name string
		seal func(dev *identity.Key, person identity.PublicKey, cert *signedv1.Envelope, at time.Time) *signedv1.Envelope
		open open
		ctx  identity.Context
		v1   identity.Context
	}{
		{"reply", func(d *identity.Key, p identity.PublicKey, c *signedv1.Envelope, at time.Time) *signedv1.Envelope {
			return f.reply(t, d, p, c, at)
		}, openReply, identity.ContextDeviceReply, identity.ContextReply},
		{"reaction", func(d *identity.Key, p identity.PublicKey, c *signedv1.Envelope, at time.Time) *signedv1.Envelope {
			return f.reaction(t, d, p, c, at)
		}, openReaction, identity.ContextDeviceReaction, identity.ContextReaction},
	}
	for _, k := range kinds {
		good := k.seal(laptop, alice, f.cert, before)
		// author != person: the same payload naming bob, signed by alice's device with
		// alice's certificate.
		wrongPerson := withAuthor(t, good, f.bob.Public(), laptop, k.ctx, f.cert)
		// The identity itself signing a v2 record, certificate attached.
		identityV2 := withAuthor(t, good, alice, f.alice, k.ctx, f.cert)
		// A device record signed under v1's context (a forged version).
		asV1 := withAuthor(t, good, alice, laptop, k.v1, f.cert)
		cases := []struct {
			name    string
			env     *signedv1.Envelope
			revoked Revocations
			want    error // nil: opens, as alice's
		}{
			{"device, no revocation held", good, nil, nil},
			{"device, signed just before its revocation", good, f.revocations, nil},
			{"device, signed at its revocation", k.seal(laptop, alice, f.cert, after), f.revocations, device.ErrRevoked},
			{"device, signed after its revocation", k.seal(laptop, alice, f.cert, after.Add(time.Minute)), f.revocations, device.ErrRevoked},
			{"device, after its revocation, revocation unknown", k.seal(laptop, alice, f.cert, after.Add(time.Minute)), nil, nil},
			{"no certificate (read as v1)", stripCert(good), nil, identity.ErrBadSignature},
			{"certificate from another person (forged chain)", k.seal(laptop, alice, f.bobsCert, before), nil, device.ErrNotCertified},
			{"certificate for another key", k.seal(laptop, alice, f.otherCert, before), nil, device.ErrNotCertified},
			{"author is not the certificate's person", wrongPerson, nil, device.ErrNotCertified},
			{"identity signing v2", identityV2, nil, ErrIdentityV2},
			{"device record under v1's context", asV1, nil, identity.ErrBadSignature},
			{"certificate expired at the record's time", k.seal(laptop, alice, f.cert, f.t0.Add(25*time.Hour)), nil, device.ErrExpired},
			{"identity v1 record", k.seal(f.alice, alice, nil, after), f.revocations, nil},
			{"identity v1 record with a certificate attached", withCert(k.seal(f.alice, alice, nil, after), f.cert), nil, identity.ErrBadSignature},
		}
		for _, c := range cases {
			t.Run(k.name+"/"+c.name, func(t *testing.T) {
				author, err := k.open(c.env, c.revoked)
				if c.want == nil {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					if string(author) != string(alice.Bytes()) {
						t.Fatalf("opened with author %x, want alice", author)
					}
					return
				}
				if !errors.Is(err, c.want) {
					t.Fatalf("got %v, want %v", err, c.want)
				}
			})
		}
	}
	t.Run("strict openers refuse a device", func(t *testing.T) {
		if _, err := OpenReply(f.reply(t, laptop, alice, f.cert, before)); err == nil {
			t.Fatal("OpenReply took a device-signed reply")
		}
		if _, err := OpenReaction(f.reaction(t, laptop, alice, f.cert, before)); err == nil {
			t.Fatal("OpenReaction took a device-signed reaction")
		}
	})
	t.Run("revocations that fail", func(t *testing.T) {
		boom := errors.New("store down")
		if _, err := OpenReplyChain(f.reply(t, laptop, alice, f.cert, before), func(identity.PublicKey) ([]device.Revocation, error) { return nil, boom }); !errors.Is(err, boom) {
			t.Fatalf("got %v, want the revocations' error", err)
		}
	})
	t.Run("the revocations asked for are the author's", func(t *testing.T) {
		var asked []identity.PublicKey
		_, err := OpenReactionChain(f.reaction(t, laptop, alice, f.cert, before), func(p identity.PublicKey) ([]device.Revocation, error) {
			asked = append(asked, p)
			return nil, nil
		})
		if err != nil || len(asked) != 1 || asked[0] != alice {
			t.Fatalf("asked for %v (err %v), want alice once", asked, err)
		}
	})
	t.Run("identity seals v1", func(t *testing.T) {
		env := f.reply(t, f.alice, alice, f.cert, before)
		if env.GetCertificate() != nil {
			t.Fatal("the identity's reply carries a certificate")
		}
		if _, err := OpenReply(env); err != nil {
			t.Fatalf("the identity's reply is not a v1 reply: %v", err)
		}
		renv := f.reaction(t, f.alice, alice, f.cert, before)
		if _, err := OpenReaction(renv); err != nil || renv.GetCertificate() != nil {
			t.Fatalf("the identity's reaction is not a plain v1 reaction: %v", err)
		}
	})
	t.Run("bad drafts are refused on a device", func(t *testing.T) {
		if _, _, err := SealReplyAs(laptop, alice, f.cert, ReplyDraft{Now: before, PostAuthor: f.bob.Public(), PostID: f.postID}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("an empty reply: %v", err)
		}
		if _, _, err := SealReactionAs(laptop, alice, f.cert, ReactionDraft{Now: before, PostAuthor: f.bob.Public(), PostID: f.postID, Emoji: "no"}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("a reaction that is no emoji: %v", err)
		}
	})
	t.Run("malformed payload and rules", func(t *testing.T) {
		env := f.reply(t, laptop, alice, f.cert, before)
		bad := &signedv1.Envelope{Signer: env.GetSigner(), Payload: []byte{0xff}, Signature: laptop.Sign(identity.ContextDeviceReply, []byte{0xff}), Certificate: f.cert}
		if _, err := OpenReplyChain(bad, nil); !errors.Is(err, signed.ErrMalformedPayload) {
			t.Fatalf("malformed reply: %v", err)
		}
		badR := &signedv1.Envelope{Signer: env.GetSigner(), Payload: []byte{0xff}, Signature: laptop.Sign(identity.ContextDeviceReaction, []byte{0xff}), Certificate: f.cert}
		if _, err := OpenReactionChain(badR, nil); !errors.Is(err, signed.ErrMalformedPayload) {
			t.Fatalf("malformed reaction: %v", err)
		}
		empty := &postv1.Reply{Id: make([]byte, IDSize), Author: alice.Bytes(), PostAuthor: f.bob.Public().Bytes(), PostId: f.postID[:], Version: 1,
			CreatedUnixMs: before.UnixMilli(), UpdatedUnixMs: before.UnixMilli(), Visibility: postv1.Visibility_VISIBILITY_PRIVATE}
		if _, err := OpenReplyChain(sealWith(t, laptop, identity.ContextDeviceReply, empty, f.cert), nil); !errors.Is(err, ErrInvalid) {
			t.Fatalf("a device reply breaking the rules: %v", err)
		}
		noEmoji := &postv1.Reaction{Author: alice.Bytes(), PostAuthor: f.bob.Public().Bytes(), PostId: f.postID[:], Version: 1,
			UpdatedUnixMs: before.UnixMilli(), Emoji: "x", Visibility: postv1.Visibility_VISIBILITY_PRIVATE}
		if _, err := OpenReactionChain(sealWith(t, laptop, identity.ContextDeviceReaction, noEmoji, f.cert), nil); !errors.Is(err, ErrInvalid) {
			t.Fatalf("a device reaction breaking the rules: %v", err)
		}
		short := &postv1.Reaction{Author: []byte("short"), PostAuthor: f.bob.Public().Bytes(), PostId: f.postID[:], Version: 1,
			UpdatedUnixMs: before.UnixMilli(), Emoji: "👍", Visibility: postv1.Visibility_VISIBILITY_PRIVATE}
		if _, err := OpenReactionChain(sealWith(t, laptop, identity.ContextDeviceReaction, short, f.cert), nil); !errors.Is(err, ErrWrongAuthor) {
			t.Fatalf("a device reaction whose author is no key: %v", err)
		}
	})
}
