package store

import (
	"crypto/rand"
	"log/slog"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/recovery"
	"github.com/kithnet/kith/shared/identity"
)

// A post its author made private after it was public must stay private when recovered
// from two friends, one holding the public version and one the private one, in that order.
func TestRecoveredKeepsSignedVisibility(t *testing.T) {
	key, _ := identity.Generate(rand.Reader)
	open := func() *Store {
		st, err := Open(Config{Home: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if err := st.Init(key, "me"); err != nil {
			t.Fatal(err)
		}
		return st
	}
	author := open()
	id, err := author.Publish(NewPost{Text: "once public", Audience: feed.Audience{Public: true}})
	if err != nil {
		t.Fatal(err)
	}
	v1, _ := author.Post(key.Public(), id)
	if err := author.SetAudience(id, feed.Default()); err != nil {
		t.Fatal(err)
	}
	v2, _ := author.Post(key.Public(), id)
	if v2.Payload.GetVersion() <= v1.Payload.GetVersion() {
		t.Fatalf("versions %d then %d", v1.Payload.GetVersion(), v2.Payload.GetVersion())
	}

	restored := open()
	for _, v := range []Stored{v1, v2} {
		if _, err := restored.Recovered([]Verified{{Envelope: v.Envelope, Payload: v.Payload}}); err != nil {
			t.Fatal(err)
		}
	}
	stranger, _ := identity.Generate(rand.Reader)
	envs, err := restored.VisiblePosts(stranger.Public(), []post.ID{id})
	if err != nil {
		t.Fatal(err)
	}
	if len(envs) != 0 {
		t.Fatal("a stranger can fetch a recovered post whose newest version is private")
	}
	var seen bool
	restored.Posts(&[]identity.PublicKey{key.Public()}[0], func(p Stored) bool {
		seen = true
		if p.Audience.Public || !p.EverPublic {
			t.Errorf("recovered audience %v, ever public %v; want private now, public once", p.Audience, p.EverPublic)
		}
		return true
	})
	if !seen {
		t.Fatal("the recovered post is not stored")
	}
}

// Restoring a kit made on a machine whose clock ran ahead still leaves the next kit
// newer than it (friends keep only a newer kit), and brings back groups, friends, the
// feed's sequence and the audience of a post that comes back later.
func TestRestoreKit(t *testing.T) {
	key, _ := identity.Generate(rand.Reader)
	friend, _ := identity.Generate(rand.Reader)
	st, err := Open(Config{Home: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Init(key, ""); err != nil {
		t.Fatal(err)
	}
	id := post.ID{7}
	future := time.Now().Add(24 * time.Hour)
	kit := recovery.Kit{Name: "A", Created: future, Groups: []string{"close", "empty"}, LastSeq: 1000,
		Friends: []recovery.Friend{{Key: friend.Public(), Name: "B", Addr: "192.0.2.1:4700", Groups: []string{"close"}}},
		Posts:   []recovery.Post{{ID: id, Audience: feed.Audience{Groups: []string{"close"}}, Created: time.UnixMilli(5), Summary: ""}}}
	if err := st.RestoreKit(kit, friend.Public(), "192.0.2.9:4700"); err != nil {
		t.Fatal(err)
	}
	own, err := st.OwnKit()
	if err != nil {
		t.Fatal(err)
	}
	if !own.Created.After(future) {
		t.Errorf("kit revision after restore %v, want after the restored kit's %v", own.Created, future)
	}
	if own.LastSeq < 1000 {
		t.Errorf("feed sequence %d after restore, want at least the kit's 1000", own.LastSeq)
	}
	if gs, _ := st.Groups(); len(gs) != 2 {
		t.Errorf("groups %v, want close and empty", gs)
	}
	if f, err := st.Friend(friend.Public()); err != nil || f.Addr != "192.0.2.9:4700" || f.Groups[0] != "close" {
		t.Errorf("friend %+v, %v; want B in close at the address that worked", f, err)
	}
	if lost, _ := st.LostPosts(); len(lost) != 1 || lost[0].ID != id {
		t.Errorf("lost %v, want the post not back yet", lost)
	}
}
