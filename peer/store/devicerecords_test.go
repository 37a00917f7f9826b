package store

import (
	"errors"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/shared/identity"
)

// TestJoinedDeviceNeedsIdentityForKey (issue 16): on a joined device Key fails with an
// error that is ErrNeedIdentity (what a person reads: run it where the identity is) and
// ErrNoIdentity (so Signer falls back to the device key); the identity's home has its
// key, and a home with neither says only ErrNoIdentity.
func TestJoinedDeviceNeedsIdentityForKey(t *testing.T) {
	first, laptop, alice, dev := joinT(t)
	_, err := laptop.Key()
	if !errors.Is(err, ErrNeedIdentity) || !errors.Is(err, ErrNoIdentity) || err.Error() != ErrNeedIdentity.Error() {
		t.Fatalf("Key on a joined device = %v; want ErrNeedIdentity, also ErrNoIdentity", err)
	}
	if errors.Is(err, ErrKeyLocked) {
		t.Fatal("the device's error reads as a locked key")
	}
	g, err := laptop.Signer()
	if err != nil || g.Key.Public() != dev.Public() || g.Person != alice.Public() || g.Certificate == nil {
		t.Fatalf("Signer on the device = %+v, %v; want the device key for Alice with its certificate", g, err)
	}
	if k, err := first.Key(); err != nil || k.Public() != alice.Public() {
		t.Fatalf("Key on the identity's home = %v, %v", k, err)
	}
	empty := openT(t, t.TempDir())
	if _, err := empty.Key(); !errors.Is(err, ErrNoIdentity) || errors.Is(err, ErrNeedIdentity) {
		t.Fatalf("Key on an empty home = %v; want ErrNoIdentity alone", err)
	}
}

// TestHostDeviceReply: the host keeps a reply a device of its friend signed as that
// friend's (the author is the person, who is the sender), and refuses it from anyone
// else, as for an identity's reply.
func TestHostDeviceReply(t *testing.T) {
	first, laptop, alice, _ := joinT(t)
	bob, bobKey := initT(t)
	if err := bob.PutFriend(Friend{Key: alice.Public(), Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	pid, err := bob.Publish(NewPost{Text: "bob's post"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := laptop.Signer()
	if err != nil {
		t.Fatal(err)
	}
	env, r, err := post.SealReplyAs(g.Key, g.Person, g.Certificate, post.ReplyDraft{Now: time.Now(), PostAuthor: bobKey.Public(), PostID: pid, Text: "from the laptop"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := post.OpenReplyChain(env, bob.Revocations); err != nil {
		t.Fatalf("the laptop's reply does not open: %v", err)
	}
	carol := newKey(t).Public()
	if err := bob.PutFriend(Friend{Key: carol, Name: "carol"}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.HostReply(carol, env, r); !errors.Is(err, ErrNotYours) {
		t.Fatalf("Alice's device reply handed over by Carol: %v; want ErrNotYours", err)
	}
	if changed, err := bob.HostReply(alice.Public(), env, r); err != nil || !changed {
		t.Fatalf("Alice's device reply handed over by Alice: %v, %v", changed, err)
	}
	recs, err := bob.Thread(bobKey.Public(), pid)
	if err != nil || len(recs) != 1 || identity.PublicKey(recs[0].Reply.GetAuthor()) != alice.Public() || recs[0].Envelope.GetCertificate() == nil {
		t.Fatalf("Bob's thread = %+v, %v; want the laptop's reply as Alice's, its certificate kept", recs, err)
	}
	_ = first
}
