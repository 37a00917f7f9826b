package crawl

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kithnet/kith/shared/identity"
)

func TestParseQuery(t *testing.T) {
	k, err := identity.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	id := string(k.ID())
	for _, tc := range []struct {
		in          string
		tags, words []string
		from        bool
		err         bool
	}{
		{in: "#Kith", tags: []string{"kith"}},
		{in: "#kith #p2p hello World", tags: []string{"kith", "p2p"}, words: []string{"hello", "world"}},
		{in: "from:" + id + " cats", from: true, words: []string{"cats"}},
		{in: "hello, world! hello", words: []string{"hello", "world"}},
		{in: "#", err: true},
		{in: "#123", err: true},
		{in: "#a#b", err: true},
		{in: "#tag,", err: true},
		{in: "from:nobody", err: true},
		{in: "   ", err: true},
		{in: "!!!", err: true},
		{in: strings.Repeat("a", MaxQuery+1), err: true},
	} {
		q, err := ParseQuery(tc.in)
		if tc.err {
			if !errors.Is(err, ErrBadQuery) {
				t.Errorf("ParseQuery(%.40q): err %v, want ErrBadQuery", tc.in, err)
			}
			continue
		}
		if err != nil || !slices.Equal(q.Tags, tc.tags) || !slices.Equal(q.Words, tc.words) || (len(q.From) == 1) != tc.from {
			t.Errorf("ParseQuery(%q) = %+v, %v; want tags %v words %v from %v", tc.in, q, err, tc.tags, tc.words, tc.from)
		}
	}
}

// FuzzParseQuery: never panics; a parsed query has something to match, lowercase
// tags and words, and its tags parse again as the same query.
func FuzzParseQuery(f *testing.F) {
	f.Add("#kith hello from:abc")
	f.Add("#Ünïcode_tag words")
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuery(s)
		if err != nil {
			return
		}
		if len(q.Tags)+len(q.Words)+len(q.From) == 0 {
			t.Fatalf("%q parsed as an empty query", s)
		}
		for _, w := range append(slices.Clone(q.Tags), q.Words...) {
			if w == "" || w != strings.ToLower(w) {
				t.Fatalf("%q: term %q is empty or not lowercase", s, w)
			}
		}
		if len(q.Tags) > 0 {
			again, err := ParseQuery("#" + strings.Join(q.Tags, " #"))
			if err != nil || !slices.Equal(again.Tags, q.Tags) {
				t.Fatalf("%q: tags %v do not parse again: %v, %v", s, q.Tags, again.Tags, err)
			}
		}
	})
}

func TestMentions(t *testing.T) {
	a, _ := identity.Generate(nil)
	b, _ := identity.Generate(nil)
	text := "thanks @" + string(a.ID()) + ", and " + string(b.ID()) + "! again " + string(a.ID()) + " x" + string(a.ID())[:40]
	got := Mentions(text)
	if len(got) != 2 || got[0] != a.Public() || got[1] != b.Public() {
		t.Fatalf("Mentions = %v, want [%s %s]", got, a.ID(), b.ID())
	}
}

// FuzzMentions: never panics; every mention is written in the text, at most MaxMentions.
func FuzzMentions(f *testing.F) {
	k, _ := identity.Generate(nil)
	f.Add("hi @" + string(k.ID()))
	f.Fuzz(func(t *testing.T, s string) {
		ms := Mentions(s)
		if len(ms) > MaxMentions {
			t.Fatalf("%d mentions", len(ms))
		}
		for _, m := range ms {
			if !strings.Contains(s, string(m.ID())) {
				t.Fatalf("mention %s is not in %q", m.ID(), s)
			}
		}
	})
}

// FuzzParseSeeds: never panics; every seed parsed prints back into the input.
func FuzzParseSeeds(f *testing.F) {
	k, _ := identity.Generate(nil)
	f.Add(string(k.ID()) + "@127.0.0.1:4700," + string(k.ID()))
	f.Fuzz(func(t *testing.T, s string) {
		seeds, err := ParseSeeds(s)
		if err != nil {
			return
		}
		for _, sd := range seeds {
			if !strings.Contains(s, sd.String()) && !strings.Contains(strings.ToLower(s), sd.String()) {
				t.Fatalf("seed %s is not in %q", sd, s)
			}
		}
	})
}
