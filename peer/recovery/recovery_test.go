package recovery

import (
	"crypto/rand"
	"errors"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

func key(t testing.TB) *identity.Key {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	owner, friend := key(t), key(t)
	kit := Kit{Name: "Alice", Created: time.UnixMilli(1700000000123),
		Friends: []Friend{{Key: friend.Public(), Name: "Bob", Addr: "192.0.2.7:4700", Groups: []string{"family"}}}}
	env, err := Seal(owner, kit)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(env, owner)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, kit) {
		t.Fatalf("Open = %+v, want %+v", got, kit)
	}
	// A holder verifies without reading; the holder's own key reads nothing.
	if created, _, err := Verify(env, owner.Public()); err != nil || !created.Equal(kit.Created) {
		t.Fatalf("Verify = %v, %v", created, err)
	}
	if _, err := Open(env, friend); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("Open with the holder's key: %v, want ErrNotOwner", err)
	}
	if _, _, err := Verify(env, friend.Public()); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("Verify as another owner: %v, want ErrNotOwner", err)
	}
}

// A friend cannot hand the owner a kit of its own making: it would not carry the
// owner's signature; and a kit encrypted to someone else does not open.
func TestForgedKits(t *testing.T) {
	owner, mallory := key(t), key(t)
	forged, err := Seal(mallory, Kit{Name: "Alice?"})
	if err != nil {
		t.Fatal(err)
	}
	forged.Signer = owner.Public().Bytes()
	if _, err := Open(forged, owner); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("forged signer: %v, want ErrNotOwner", err)
	}
	// Signed by the owner but naming another owner inside.
	var rk syncv1.RecoveryKit
	real, _ := Seal(owner, Kit{Name: "Alice"})
	proto.Unmarshal(real.Payload, &rk)
	rk.Owner = mallory.Public().Bytes()
	renamed, _ := signed.Seal(owner, identity.ContextRecoveryKit, &rk)
	if _, err := Open(renamed, owner); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("owner field of another key: %v, want ErrNotOwner", err)
	}
	// Signed by the owner, but the ciphertext is for mallory.
	other, _ := Seal(mallory, Kit{Name: "M"})
	proto.Unmarshal(other.Payload, &rk)
	rk.Owner = owner.Public().Bytes()
	wrongCT, _ := signed.Seal(owner, identity.ContextRecoveryKit, &rk)
	if _, err := Open(wrongCT, owner); !errors.Is(err, ErrUnreadable) {
		t.Fatalf("ciphertext for another key: %v, want ErrUnreadable", err)
	}
}

// FuzzOpen: whatever bytes arrive as a kit, Open never panics and accepts only what the
// owner signed.
func FuzzOpen(f *testing.F) {
	owner := key(f)
	env, _ := Seal(owner, Kit{Name: "A", Friends: []Friend{{Key: owner.Public(), Name: "x"}}})
	wire, _ := proto.Marshal(env)
	f.Add(wire)
	f.Fuzz(func(t *testing.T, b []byte) {
		var e signedv1.Envelope
		if proto.Unmarshal(b, &e) != nil {
			return
		}
		if _, err := Open(&e, owner); err == nil && string(e.Signer) != string(owner.Public().Bytes()) {
			t.Fatal("opened a kit not signed by its owner")
		}
	})
}

// A kit carries every post's audience and sharing history, and its ciphertext's size is
// that of its size class: a holder cannot tell one friend or post more from its size.
func TestKitCarriesAudiencesPadded(t *testing.T) {
	owner, friend := key(t), key(t)
	id := post.ID{1, 2, 3}
	kit := Kit{Name: "A", Created: time.UnixMilli(1700000000000), Groups: []string{"close", "empty"}, LastSeq: 42,
		Friends: []Friend{{Key: friend.Public(), Name: "B", Groups: []string{"close"}}},
		Posts: []Post{{ID: id, Audience: feed.Audience{Groups: []string{"close"}, People: []identity.ID{friend.ID()}},
			Shared: feed.Shared{People: []identity.ID{friend.ID()}}, Created: time.UnixMilli(1690000000000)},
			{ID: post.ID{9}, Audience: feed.Audience{Me: true}, Created: time.UnixMilli(1690000000001), Summary: "a note"}}}
	env, err := Seal(owner, kit)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(env, owner)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, kit) {
		t.Fatalf("Open = %+v, want %+v", got, kit)
	}
	size := func(k Kit) int {
		env, err := Seal(owner, k)
		if err != nil {
			t.Fatal(err)
		}
		var rk syncv1.RecoveryKit
		proto.Unmarshal(env.Payload, &rk)
		return len(rk.Ciphertext)
	}
	small := size(Kit{Name: "A"})
	if big := size(kit); big != small {
		t.Errorf("ciphertext of a kit with a friend and two posts is %d bytes, of an empty one %d: sizes leak", big, small)
	}
	var many Kit
	for i := range 2000 {
		many.Posts = append(many.Posts, Post{ID: post.ID{byte(i), byte(i >> 8)}, Audience: feed.Audience{Friends: true}})
	}
	if n := size(many); n <= small {
		t.Errorf("a kit of 2000 posts has %d bytes of ciphertext, no more than an empty one", n)
	}
}

// A kit of another format version is refused, even signed by its owner.
func TestKitVersion(t *testing.T) {
	owner := key(t)
	env, _ := Seal(owner, Kit{Name: "A"})
	var rk syncv1.RecoveryKit
	proto.Unmarshal(env.Payload, &rk)
	rk.Version = 1
	old, _ := signed.Seal(owner, identity.ContextRecoveryKit, &rk)
	if _, err := Open(old, owner); !errors.Is(err, ErrVersion) {
		t.Fatalf("a version 1 kit: %v, want ErrVersion", err)
	}
}

// BenchmarkSeal10kPosts measures sealing the kit of a person with 10,000 posts and 200
// friends, and reports its size.
func BenchmarkSeal10kPosts(b *testing.B) {
	owner := key(b)
	var kit Kit
	for i := range 200 {
		kit.Friends = append(kit.Friends, Friend{Key: key(b).Public(), Name: "friend", Addr: "192.0.2.1:4700", Groups: []string{"g" + string(rune('a'+i%5))}})
	}
	for i := range 10000 {
		kit.Posts = append(kit.Posts, Post{ID: post.ID{byte(i), byte(i >> 8)}, Audience: feed.Audience{Groups: []string{"ga"}},
			Shared: feed.Shared{People: []identity.ID{kit.Friends[i%200].Key.ID()}}, Created: time.UnixMilli(int64(i))})
	}
	var n int
	for b.Loop() {
		env, err := Seal(owner, kit)
		if err != nil {
			b.Fatal(err)
		}
		n = proto.Size(env)
	}
	b.ReportMetric(float64(n), "kit-bytes")
}
