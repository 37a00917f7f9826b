package store

import (
	"crypto/rand"
	"log/slog"
	"testing"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
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
