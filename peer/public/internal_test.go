package public

import (
	"reflect"
	"strings"
	"testing"
)

func TestSegments(t *testing.T) {
	for _, tc := range []struct {
		text string
		tags []string
		want string // tags in brackets
	}{
		{"plain", []string{"x"}, "plain"},
		{"#Go and #rust, #go!", []string{"go"}, "[#Go:go] and #rust, [#go:go]!"},
		{"##go #", []string{"go"}, "#[#go:go] #"},
		{"a#go", []string{"go"}, "a[#go:go]"},
		{"#café au lait", []string{"café"}, "[#café:café] au lait"},
		{"#go", nil, "#go"},
	} {
		var b strings.Builder
		for _, s := range segments(tc.text, tc.tags) {
			if s.Tag != "" {
				b.WriteString("[" + s.Text + ":" + s.Tag + "]")
			} else {
				b.WriteString(s.Text)
			}
		}
		if b.String() != tc.want {
			t.Errorf("segments(%q, %q) = %q, want %q", tc.text, tc.tags, b.String(), tc.want)
		}
	}
}

// TestPageKeyNamesEveryField guards pageKey: a field added to pageView must be added
// to the key too, or a page could be served from the cache with the field's old value.
func TestPageKeyNamesEveryField(t *testing.T) {
	if n := reflect.TypeFor[pageView]().NumField(); n != 14 {
		t.Errorf("pageView has %d fields; pageKey names 14 (Replies through replyKey): update pageKey, then this test", n)
	}
	if n := reflect.TypeFor[profileView]().NumField(); n != 5 {
		t.Errorf("profileView has %d fields; cacheKey.profile names 5: update it, then this test", n)
	}
}
