package syncer

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/shared/device"
)

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// revokedLaptop makes Alice and Bob friends; Alice's laptop, revoked half an hour
// after its certificate, wrote one public post before its revocation and one after,
// and Alice's node holds both and the revocation.
func revokedLaptop(t *testing.T) (alice, bob *node, before, after post.ID) {
	t.Helper()
	alice, bob = newNode(t, "alice", nil), newNode(t, "bob", nil)
	befriend(t, alice, bob)
	befriend(t, bob, alice)
	laptop := newKey(t)
	t0 := time.Now().Add(-time.Hour)
	cert, err := device.Issue(alice.key, laptop.Public(), []byte("laptop01"), t0, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := device.Open(cert, alice.pub())
	if err != nil {
		t.Fatal(err)
	}
	revokedAt := t0.Add(30 * time.Minute)
	rev, err := device.Revoke(alice.key, c, revokedAt)
	if err != nil {
		t.Fatal(err)
	}
	// The laptop's posts reach Alice's own node (own-device sync stands in here).
	write := func(text string, at time.Time) post.ID {
		t.Helper()
		env, p, err := post.SealDevice(laptop, alice.pub(), cert, post.Draft{Text: text, Now: at, Public: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := alice.st.Recovered([]store.Verified{{Envelope: env, Payload: p}}); err != nil {
			t.Fatal(err)
		}
		return post.ID(p.GetId())
	}
	before = write("written on the laptop before", revokedAt.Add(-time.Minute))
	after = write("written on the laptop after", revokedAt.Add(time.Minute))
	if _, err := alice.st.AddRevocation(alice.pub(), rev); err != nil {
		t.Fatal(err)
	}

	return alice, bob, before, after
}

// TestRevokedDevicePostsRefused: Alice revokes her laptop. Bob learns the revocation
// from Alice's node (GetDevices) and then, in one pull, keeps the laptop's post signed
// before the revocation and refuses the one signed after it, with a log line naming
// Alice and the post; the pull itself succeeds and a later pull does not ask again.
func TestRevokedDevicePostsRefused(t *testing.T) {
	alice, bob, before, after := revokedLaptop(t)
	logs := &logBuf{}
	p := NewPuller(PullerConfig{Store: bob.st, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	cl := bob.client(t, alice)
	if err := p.FetchDevices(ctxT(t), cl, alice.pub()); err != nil {
		t.Fatalf("fetch devices: %v", err)
	}
	res, err := p.Pull(ctxT(t), cl, alice.pub())
	if err != nil {
		t.Fatalf("pull with a revoked device's post in it: %v", err)
	}
	if v := bob.holds(t, alice, before); v != 1 {
		t.Fatalf("the post signed before the revocation: version %d, want 1 (res %+v)", v, res)
	}
	if v := bob.holds(t, alice, after); v != 0 {
		t.Fatal("Bob stored a post the laptop signed after its revocation")
	}
	l := logs.String()
	if !strings.Contains(l, "refused a post signed by a revoked device") || !strings.Contains(l, string(alice.key.ID())) ||
		!strings.Contains(l, after.String()) {
		t.Fatalf("no log line naming Alice and the refused post:\n%s", l)
	}
	if _, err := p.Pull(ctxT(t), cl, alice.pub()); err != nil {
		t.Fatalf("second pull: %v", err)
	}
}

// TestPullAfterWaitsForRevocations: the pull that starts while the revocations are on
// their way (PullWith, as a sync does) verifies nothing before they are kept: the post
// the laptop signed after its revocation is refused, however late they come.
func TestPullAfterWaitsForRevocations(t *testing.T) {
	alice, bob, before, after := revokedLaptop(t)
	p := NewPuller(PullerConfig{Store: bob.st, Logger: quiet()})
	cl := bob.client(t, alice)
	ready := make(chan struct{})
	fetched := make(chan error, 1)
	go func() {
		defer close(ready)
		time.Sleep(200 * time.Millisecond) // the pull has read its changes and posts by then
		fetched <- p.FetchDevices(ctxT(t), cl, alice.pub())
	}()
	if _, err := p.PullWith(ctxT(t), cl, alice.pub(), PullHooks{Ready: ready}); err != nil {
		t.Fatalf("pull: %v", err)
	}
	if err := <-fetched; err != nil {
		t.Fatalf("fetch devices: %v", err)
	}
	if v := bob.holds(t, alice, before); v != 1 {
		t.Fatalf("the post signed before the revocation: version %d, want 1", v)
	}
	if v := bob.holds(t, alice, after); v != 0 {
		t.Fatal("Bob stored a post the laptop signed after its revocation: the pull verified before the revocations came")
	}
}

// TestRevocationsOnlyFromTheirPerson: revocations Alice's node serves that Alice did
// not sign are refused, and the others kept.
func TestRevocationsOnlyFromTheirPerson(t *testing.T) {
	alice, bob, carol := newNode(t, "alice", nil), newNode(t, "bob", nil), newNode(t, "carol", nil)
	befriend(t, alice, bob)
	befriend(t, bob, alice)
	befriend(t, alice, carol) // so Alice's store keeps a revocation signed by Carol under Carol
	laptop := newKey(t)
	cert, err := device.Issue(carol.key, laptop.Public(), []byte("laptop01"), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := device.Open(cert, carol.pub())
	rev, _ := device.Revoke(carol.key, c, time.Now())
	if _, err := alice.st.AddRevocation(alice.pub(), rev); err == nil {
		t.Fatal("Alice's store kept Carol's revocation as Alice's")
	}
	p := NewPuller(PullerConfig{Store: bob.st, Logger: quiet()})
	if err := p.FetchDevices(ctxT(t), bob.client(t, alice), alice.pub()); err != nil {
		t.Fatalf("fetch devices with none: %v", err)
	}
	if rs, _ := bob.st.Revocations(alice.pub()); len(rs) != 0 {
		t.Fatalf("Bob holds %d revocations of Alice, want none", len(rs))
	}
}
