package recovery

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
)

// TestSizeClass holds sizeClass at each edge: the smallest class, the doubling's last
// class (1 MiB), and the 256 KiB steps after it.
func TestSizeClass(t *testing.T) {
	for _, tc := range []struct{ in, want int }{
		{1, minPadded}, {minPadded, minPadded}, {minPadded + 1, 2 * minPadded},
		{1 << 20, 1 << 20}, {1<<20 + 1, 1<<20 + 256<<10}, {1<<20 + 256<<10, 1<<20 + 256<<10},
		{1<<20 + 256<<10 + 1, 1<<20 + 512<<10},
	} {
		if got := sizeClass(tc.in); got != tc.want {
			t.Errorf("sizeClass(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestContentsFillTheirClass: a kit's padded contents are exactly its size class (the
// class of its unpadded size plus room for the padding field), one byte short only
// where no padding length can fill it (a varint's length steps over it), across the
// first classes' edges.
func TestContentsFillTheirClass(t *testing.T) {
	for n := 3*1024 + 900; n < 9*1024; n += 7 {
		padded, err := marshalContents(Kit{Name: strings.Repeat("n", n)})
		if err != nil {
			t.Fatal(err)
		}
		var c syncv1.RecoveryKitContents
		if err := proto.Unmarshal(padded, &c); err != nil {
			t.Fatal(err)
		}
		c.Padding = nil
		plain := proto.Size(&c)
		target := sizeClass(plain + 8)
		want := target
		if r := target - plain - 1; r == 129 || r == 16386 { // pad+len(varint(pad)) cannot be r
			want = target - 1
		}
		if len(padded) != want {
			t.Fatalf("a kit of %d unpadded bytes pads to %d, want %d (class %d)", plain, len(padded), want, target)
		}
	}
}

// TestLargeKits: a kit of a person with many posts (its ciphertext far past the 128 KiB
// bound of other signed records) seals, verifies and opens; one padded to exactly
// MaxContents too; one past it is refused when sealed.
func TestLargeKits(t *testing.T) {
	owner := key(t)
	var many Kit
	for i := range 20_000 {
		many.Posts = append(many.Posts, Post{ID: post.ID{byte(i), byte(i >> 8)}, Audience: feed.Audience{Friends: true}})
	}
	atMax := Kit{Name: strings.Repeat("n", MaxContents-64<<10)}
	for _, kit := range []Kit{many, atMax} {
		env, err := Seal(owner, kit)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		got, err := Open(env, owner)
		if err != nil {
			t.Fatalf("Open a kit of %d posts and a %d-byte name: %v", len(kit.Posts), len(kit.Name), err)
		}
		if len(got.Posts) != len(kit.Posts) || got.Name != kit.Name {
			t.Fatalf("Open: %d posts, a %d-byte name; want %d, %d", len(got.Posts), len(got.Name), len(kit.Posts), len(kit.Name))
		}
	}
	if padded, _ := marshalContents(atMax); len(padded) != MaxContents {
		t.Fatalf("the kit at the bound pads to %d bytes, want MaxContents (%d)", len(padded), MaxContents)
	}
	if _, err := Seal(owner, Kit{Name: strings.Repeat("n", MaxContents)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a kit past MaxContents: %v, want ErrTooLarge", err)
	}
}
