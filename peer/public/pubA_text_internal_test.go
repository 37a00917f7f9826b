package public

import (
	"reflect"
	"testing"
)

// TestSegmentsExact: segments gives plain runs and hashtags with no empty runs, whether
// a tag starts the text, ends it, or follows another tag directly.
func TestSegmentsExact(t *testing.T) {
	for _, tc := range []struct {
		text string
		tags []string
		want []segment
	}{
		{"#kith first", []string{"kith"}, []segment{{"#kith", "kith"}, {" first", ""}}},
		{"last #kith", []string{"kith"}, []segment{{"last ", ""}, {"#kith", "kith"}}},
		{"#kith", []string{"kith"}, []segment{{"#kith", "kith"}}},
		{"#a#b", []string{"a", "b"}, []segment{{"#a", "a"}, {"#b", "b"}}},
		{"x #a #b y", []string{"a", "b"}, []segment{{"x ", ""}, {"#a", "a"}, {" ", ""}, {"#b", "b"}, {" y", ""}}},
		{"no #tag here", []string{"other"}, []segment{{"no #tag here", ""}}},
		{"#", []string{"x"}, []segment{{"#", ""}}},
		{"#go\xffgo", []string{"go"}, []segment{{"#go", "go"}, {"\xffgo", ""}}},
		{"#go\uFFFDgo", []string{"go"}, []segment{{"#go", "go"}, {"\uFFFDgo", ""}}},
		{"", []string{"x"}, []segment{{"", ""}}},
	} {
		if got := segments(tc.text, tc.tags); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("segments(%q, %q) = %q, want %q", tc.text, tc.tags, got, tc.want)
		}
	}
}
