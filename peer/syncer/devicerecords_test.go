package syncer

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// laptopOf is a device of n's: its key, certificate (valid from an hour ago) and a
// revocation taking effect at revokedAt (ten minutes ago).
type laptopOf struct {
	owner     *node
	key       *identity.Key
	cert, rev *signedv1.Envelope
	revokedAt time.Time
}

func newLaptop(t testing.TB, owner *node) laptopOf {
	t.Helper()
	return newDeviceOf(t, owner, "laptop01")
}

// newDeviceOf is newLaptop with the device id id (8 bytes).
func newDeviceOf(t testing.TB, owner *node, id string) laptopOf {
	t.Helper()
	l := laptopOf{owner: owner, key: newKey(t), revokedAt: time.Now().Add(-10 * time.Minute)}
	var err error
	if l.cert, err = device.Issue(owner.key, l.key.Public(), []byte(id), time.Now().Add(-time.Hour), 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	c, err := device.Open(l.cert, owner.pub())
	if err != nil {
		t.Fatal(err)
	}
	if l.rev, err = device.Revoke(owner.key, c, l.revokedAt); err != nil {
		t.Fatal(err)
	}
	return l
}

// reply seals a reply the laptop writes for its owner (as person) at at.
func (l laptopOf) reply(t testing.TB, person identity.PublicKey, host *node, id post.ID, text string, public bool, at time.Time) store.Record {
	t.Helper()
	env, r, err := post.SealReplyAs(l.key, person, l.cert, post.ReplyDraft{PostAuthor: host.pub(), PostID: id, Text: text, Public: public, Now: at})
	if err != nil {
		t.Fatal(err)
	}
	return store.Record{Envelope: env, Reply: r}
}

func (l laptopOf) react(t testing.TB, host *node, id post.ID, emoji string, at time.Time) store.Record {
	t.Helper()
	env, r, err := post.SealReactionAs(l.key, l.owner.pub(), l.cert, post.ReactionDraft{PostAuthor: host.pub(), PostID: id, Emoji: emoji, Now: at})
	if err != nil {
		t.Fatal(err)
	}
	return store.Record{Envelope: env, Reaction: r}
}

// logged starts a node whose Server logs into the returned buffer.
func logged(t testing.TB, name string, wrap func(*Server) syncv1.SyncServiceServer) (*node, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	n := newNode(t, name, func(s *Server) syncv1.SyncServiceServer {
		s.log = slog.New(slog.NewTextHandler(logs, nil))
		if wrap != nil {
			return wrap(s)
		}
		return s
	})
	return n, logs
}

// TestDeviceRecordsHostedAndPulled (issue 16): Alice replies and reacts to Bob's post
// from her laptop. Bob hosts the records as Alice's; once he holds the laptop's
// revocation he refuses what it signs at or after it, with a log line naming Alice and
// the device. Carol, Bob's friend but not Alice's, pulls the conversation: Bob serves
// Alice's revocation with it, so Carol keeps what the laptop signed before and leaves
// out, with a log line, a record Bob took before he learned of the revocation; a host
// that keeps the revocation back gets that record past her, which is why it is served.
func TestDeviceRecordsHostedAndPulled(t *testing.T) {
	var liar convoLiar
	bob, bobLog := logged(t, "bob", func(s *Server) syncv1.SyncServiceServer { liar.Server = s; return &liar })
	liar.send = func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse { return ms }
	alice, carol := newNode(t, "alice", nil), newNode(t, "carol", nil)
	befriend(t, bob, alice)
	befriend(t, alice, bob)
	befriend(t, bob, carol)
	befriend(t, carol, bob)
	laptop := newLaptop(t, alice)
	ctx := ctxT(t)
	p := bob.publish(t, "for friends", feed.Default())
	ac := alice.client(t, bob)
	before := laptop.revokedAt.Add(-time.Minute)
	for _, rec := range []store.Record{
		laptop.reply(t, alice.pub(), bob, p, "from alice's laptop", false, before),
		laptop.react(t, bob, p, "👍", before),
		laptop.reply(t, alice.pub(), bob, p, "LATE signed after the revocation, taken before Bob knew", false, time.Now()),
	} {
		if err := Deliver(ctx, ac, nil, rec); err != nil {
			t.Fatalf("a record of Alice's laptop: %v", err)
		}
	}
	// Records the chain does not carry are refused whatever Bob knows.
	forged := []struct {
		name string
		rec  store.Record
		code codes.Code
	}{
		{"author is not the certificate's person", laptop.reply(t, carol.pub(), bob, p, "as carol", false, before), codes.PermissionDenied},
		{"a certificate from someone else", newLaptopCertBy(t, laptop, carol).reply(t, alice.pub(), bob, p, "carol's cert", false, before), codes.PermissionDenied},
	}
	for _, f := range forged {
		wantCode(t, f.name, Deliver(ctx, ac, nil, f.rec), f.code)
	}

	if _, err := bob.st.AddRevocation(alice.pub(), laptop.rev); err != nil {
		t.Fatal(err)
	}
	// Another device of Alice's, revoked too, that wrote nothing here: a reader learns
	// nothing of it.
	if _, err := bob.st.AddRevocation(alice.pub(), newDeviceOf(t, alice, "phone001").rev); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "a reply the revoked laptop signs", Deliver(ctx, ac, nil, laptop.reply(t, alice.pub(), bob, p, "after", false, time.Now())), codes.PermissionDenied)
	wantCode(t, "a reaction the revoked laptop signs", Deliver(ctx, ac, nil, laptop.react(t, bob, p, "🎉", time.Now())), codes.PermissionDenied)
	if l := bobLog.String(); !strings.Contains(l, "refused a reply signed by a revoked device") || !strings.Contains(l, "refused a reaction signed by a revoked device") ||
		!strings.Contains(l, string(alice.key.ID())) || !strings.Contains(l, laptop.key.Public().Short()) {
		t.Fatalf("Bob's log does not name the revoked device's records, Alice and the laptop:\n%s", l)
	}

	// Carol pulls: the revocation comes with the records, once.
	readerLog := &logBuf{}
	cc := carol.client(t, bob)
	held, err := FetchConversations(ctx, cc, bob.pub(), []post.ID{p}, carol.st.Revocations, slog.New(slog.NewTextHandler(readerLog, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 1 || len(held[0].Replies) != 1 || len(held[0].Reactions) != 1 || held[0].Replies[0].Reply.GetText() != "from alice's laptop" ||
		string(held[0].Replies[0].Reply.GetAuthor()) != string(alice.pub().Bytes()) {
		t.Fatalf("Carol fetched %+v; want the laptop's reply (as Alice's) and reaction from before the revocation", held)
	}
	if l := readerLog.String(); !strings.Contains(l, "refused a reply signed by a revoked device") || !strings.Contains(l, p.String()) {
		t.Fatalf("Carol's log does not say she left out the late reply:\n%s", l)
	}
	served := 0
	liar.send = func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
		for _, m := range ms {
			served += len(m.GetRevocations())
		}
		return ms
	}
	if _, err := FetchConversations(ctx, cc, bob.pub(), []post.ID{p}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if served != 1 {
		t.Fatalf("Bob served %d revocations with the conversation; want the laptop's one, once (not the phone's)", served)
	}

	// A host that keeps the revocation back: the late reply gets past Carol.
	liar.send = func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
		for _, m := range ms {
			m.Revocations = nil
		}
		return ms
	}
	held, err = FetchConversations(ctx, cc, bob.pub(), []post.ID{p}, carol.st.Revocations, nil)
	if err != nil || len(held) != 1 || len(held[0].Replies) != 2 {
		t.Fatalf("without the served revocation Carol got %+v, %v; want both replies (the test needs the revocation to matter)", held, err)
	}

	// Through a whole pull, Carol's store holds the reply as Alice's, without the late one.
	liar.send = func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse { return ms }
	pl := NewPuller(PullerConfig{Store: carol.st, Logger: quiet()})
	if _, err := pl.Pull(ctx, cc, bob.pub()); err != nil {
		t.Fatal(err)
	}
	recs, err := carol.st.Thread(bob.pub(), p)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, r := range recs {
		if r.Reply != nil {
			texts = append(texts, r.Reply.GetText())
		}
	}
	if len(texts) != 1 || texts[0] != "from alice's laptop" {
		t.Fatalf("Carol's thread after a pull: %q; want the laptop's reply from before the revocation alone", texts)
	}
}

// newLaptopCertBy is l's key certified by someone else (a forged chain for l's owner).
func newLaptopCertBy(t testing.TB, l laptopOf, by *node) laptopOf {
	t.Helper()
	cert, err := device.Issue(by.key, l.key.Public(), []byte("laptop01"), time.Now().Add(-time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	l.cert = cert
	return l
}

// TestServedRevocationsRefusesLies: revocations a host serves beside device records
// must verify, name a device that signed a record beside them, come once per stream
// and stay within their bound; otherwise the fetch
// fails with ErrTampered.
func TestServedRevocationsRefusesLies(t *testing.T) {
	var liar convoLiar
	bob := newNode(t, "bob", func(s *Server) syncv1.SyncServiceServer { liar.Server = s; return &liar })
	alice, carol := newNode(t, "alice", nil), newNode(t, "carol", nil)
	befriend(t, bob, alice)
	befriend(t, bob, carol)
	laptop := newLaptop(t, alice)
	ctx := ctxT(t)
	p1 := bob.publish(t, "one", feed.Default())
	p2 := bob.publish(t, "two", feed.Default())
	ac := alice.client(t, bob)
	for _, rec := range []store.Record{laptop.reply(t, alice.pub(), bob, p1, "one", false, time.Now().Add(-time.Hour+time.Minute)),
		laptop.reply(t, alice.pub(), bob, p2, "two", false, time.Now().Add(-time.Hour+time.Minute))} {
		if err := Deliver(ctx, ac, nil, rec); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bob.st.AddRevocation(alice.pub(), laptop.rev); err != nil {
		t.Fatal(err)
	}
	// A revocation, valid, of someone who wrote nothing here.
	stranger := newLaptop(t, carol)
	strangerRevocation := stranger.rev
	// A revocation, valid, of another device of Alice's that wrote nothing here.
	otherRevocation := newDeviceOf(t, alice, "phone001").rev
	// The honest answer: p1 {reply + revocation}, p1 complete, p2 {reply}, p2 complete.
	lies := map[string]func([]*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse{
		"a revocation's signature broken": func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			ms[0].Revocations[0].Signature[0] ^= 1
			return ms
		},
		"a person's revocations served twice": func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			ms[2].Revocations = append(ms[2].Revocations, ms[0].Revocations[0])
			return ms
		},
		"more than MaxRevocations of one person": func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			for len(ms[0].Revocations) <= store.MaxRevocations {
				ms[0].Revocations = append(ms[0].Revocations, ms[0].Revocations[0])
			}
			return ms
		},
		"revocations beside no device record": func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			ms[1].Revocations = ms[0].Revocations
			ms[0].Revocations = nil
			return ms
		},
		"a revocation of someone with no device record beside it": func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			ms[0].Revocations = append(ms[0].Revocations, strangerRevocation)
			return ms
		},
		"a revocation of the author's other device, which signed nothing beside it": func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			ms[0].Revocations = append(ms[0].Revocations, otherRevocation)
			return ms
		},
		"a revocation whose signer is no key": func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			ms[0].Revocations[0].Signer = ms[0].Revocations[0].Signer[:5]
			return ms
		},
	}
	cc := carol.client(t, bob)
	for name, lie := range lies {
		liar.send = func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse {
			cp := make([]*syncv1.GetConversationsResponse, len(ms))
			for i, m := range ms {
				cp[i] = proto.Clone(m).(*syncv1.GetConversationsResponse)
			}
			return lie(cp)
		}
		held, err := FetchConversations(ctx, cc, bob.pub(), []post.ID{p1, p2}, nil, nil)
		if !errors.Is(err, ErrTampered) || held != nil {
			t.Errorf("%s: %d conversations, %v; want none and ErrTampered", name, len(held), err)
		}
	}
	liar.send = func(ms []*syncv1.GetConversationsResponse) []*syncv1.GetConversationsResponse { return ms }
	if held, err := FetchConversations(ctx, cc, bob.pub(), []post.ID{p1, p2}, nil, nil); err != nil || len(held) != 2 {
		t.Errorf("the honest answer: %d conversations, %v; want 2", len(held), err)
	}
}
