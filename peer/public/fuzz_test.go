package public

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzNormalizeTag(f *testing.F) {
	for _, s := range []string{"kith", "#Kith", "café", "İstanbul", "a-b", "", "#", "x_1", "\xff", strings.Repeat("ß", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tag, err := NormalizeTag(s)
		if err != nil {
			return
		}
		if tag == "" || !utf8.ValidString(tag) || utf8.RuneCountInString(tag) > MaxTagRunes || strings.ContainsAny(tag, "#/?%.\\ ") {
			t.Fatalf("NormalizeTag(%q) = %q: not a tag a URL path may carry", s, tag)
		}
		again, err := NormalizeTag(tag)
		if err != nil || again != tag {
			t.Fatalf("NormalizeTag is not idempotent: %q -> %q -> %q, %v", s, tag, again, err)
		}
		if err := checkPath("/tags/"+tag, ""); err != nil {
			t.Fatalf("the route refuses its own tag %q: %v", tag, err)
		}
	})
}

func FuzzSegments(f *testing.F) {
	f.Add("hello #kith and #Go", "kith,go")
	f.Add("##x #", "x")
	f.Add("#\xff#a", "a")
	f.Fuzz(func(t *testing.T, text, tagList string) {
		tags := strings.Split(tagList, ",")
		var joined strings.Builder
		for _, s := range segments(text, tags) {
			joined.WriteString(s.Text)
			if s.Tag != "" {
				if norm, err := NormalizeTag(s.Text); err != nil || norm != s.Tag {
					t.Fatalf("segment %q links tag %q; NormalizeTag says %q, %v", s.Text, s.Tag, norm, err)
				}
			}
		}
		if joined.String() != text {
			t.Fatalf("segments lose text: %q became %q", text, joined.String())
		}
	})
}

func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"/", "/p/abc", "/blob/../x", "/a//b", "/a/./b", "/a\\b", "/%2e"} {
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, path, raw string) {
		if checkPath(path, raw) != nil {
			return
		}
		for _, seg := range strings.Split(path, "/")[1:] {
			if seg == ".." || seg == "." || (seg == "" && strings.Contains(path, "//")) {
				t.Fatalf("checkPath accepts %q", path)
			}
		}
		if strings.ContainsAny(path, "\\%\x00") {
			t.Fatalf("checkPath accepts %q", path)
		}
	})
}

func FuzzParseIDs(f *testing.F) {
	f.Add("00112233445566778899aabbccddeeff")
	f.Add("00112233445566778899AABBCCDDEEFF")
	f.Add(strings.Repeat("ab", 32))
	f.Fuzz(func(t *testing.T, s string) {
		if id, err := ParsePostID(s); err == nil && id.String() != s {
			t.Fatalf("ParsePostID(%q) accepts a non-canonical form of %s", s, id)
		}
		if sum, err := ParseHash(s); err == nil && len(s) != 64 {
			t.Fatalf("ParseHash(%q) = %x", s, sum)
		}
		if validCursor(s) && (len(s) > MaxCursor || strings.ContainsAny(s, "&?#/%\"<> ")) {
			t.Fatalf("validCursor accepts %q", s)
		}
	})
}
