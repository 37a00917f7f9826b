package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/store"
)

// Extensions at the edges of what the index keeps: one character, the last letter, the
// first digit.
func TestBlobExtEdges(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"x.a", ".a"},
		{"x.z", ".z"},
		{"x.0", ".0"},
		{"x.9", ".9"},
		{"x.", ""},
		{"x.{", ""},
		{"x./", ""},
	} {
		if got := store.BlobExt(tc.name); got != tc.want {
			t.Errorf("BlobExt(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A blob first indexed without an extension takes the one it comes with next; one that
// has an extension keeps it.
func TestBlobExtensionLater(t *testing.T) {
	st, _ := home(t, &clock{time.Unix(1_800_000_000, 0)})
	a, err := st.PutFile(strings.NewReader("some bytes"), "")
	if err != nil {
		t.Fatal(err)
	}
	if ext, err := st.BlobExtension(a.GetSha256()); err != nil || ext != "" {
		t.Fatalf("extension %q (%v), want none", ext, err)
	}
	for _, s := range []struct{ name, want string }{{"photo.jpg", ".jpg"}, {"photo.png", ".jpg"}} {
		if _, err := st.PutFile(strings.NewReader("some bytes"), s.name); err != nil {
			t.Fatal(err)
		}
		if ext, err := st.BlobExtension(a.GetSha256()); err != nil || ext != s.want {
			t.Errorf("after %s: extension %q (%v), want %q", s.name, ext, err, s.want)
		}
	}
}
