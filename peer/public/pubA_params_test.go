package public_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
)

// cursorSource is a Memory that takes any cursor the handler lets through and hands out
// a chosen next cursor, so that only the handler's own cursor check decides what passes.
type cursorSource struct {
	*publictest.Memory
	next string

	mu    sync.Mutex
	after []string // every q.After that reached the Source
}

func (s *cursorSource) PublicPosts(ctx context.Context, q public.Query) (public.Page, error) {
	s.mu.Lock()
	s.after = append(s.after, q.After)
	s.mu.Unlock()
	q.After = ""
	page, err := s.Memory.PublicPosts(ctx, q)
	page.Next = s.next
	return page, err
}

func (s *cursorSource) reached() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.after...)
}

// cursorCases are cursors at the edges of what validCursor takes: the length bound
// (MaxCursor, one over), each end of each character range, the three punctuation
// characters, and the characters just outside each range.
var cursorCases = []struct {
	cursor string
	ok     bool
}{
	{strings.Repeat("a", public.MaxCursor), true},
	{strings.Repeat("a", public.MaxCursor-1), true},
	{strings.Repeat("a", public.MaxCursor+1), false},
	{"a", true}, {"z", true}, {"A", true}, {"Z", true}, {"0", true}, {"9", true},
	{"-", true}, {"_", true}, {".", true},
	{"Az09-_.", true},
	{"`", false}, {"{", false}, {"@", false}, {"[", false}, {"/", false}, {":", false},
	{",", false}, {"^", false}, {"~", false}, {" ", false}, {"é", false}, {"%", false},
	{"ok<", false}, {"<ok", false},
}

// TestCursorBounds: a pagination cursor a client sends reaches the Source only if it
// is 1 to MaxCursor characters of [a-zA-Z0-9._-]; any other answers 400 and the Source
// is never asked.
func TestCursorBounds(t *testing.T) {
	key := newKey(t)
	for _, tc := range cursorCases {
		src := &cursorSource{Memory: publictest.NewMemory(key.Public())}
		h, err := public.NewHandler(public.Config{Source: src, Logger: discardLogger(), RatePerSecond: -1})
		if err != nil {
			t.Fatal(err)
		}
		a := do(t, h, "GET", "/?after="+url.QueryEscape(tc.cursor))
		got := src.reached()
		if tc.ok {
			if a.Status != 200 || len(got) != 1 || got[0] != tc.cursor {
				t.Errorf("cursor %q (%d bytes): status %d, Source got %q; want 200 and the cursor passed on", tc.cursor, len(tc.cursor), a.Status, got)
			}
			continue
		}
		if a.Status != 400 || len(got) != 0 {
			t.Errorf("cursor %q (%d bytes): status %d, Source got %q; want 400 and the Source not asked", tc.cursor, len(tc.cursor), a.Status, got)
		}
	}
	src := &cursorSource{Memory: publictest.NewMemory(key.Public())}
	h, _ := public.NewHandler(public.Config{Source: src, Logger: discardLogger(), RatePerSecond: -1})
	if a := do(t, h, "GET", "/?after="); a.Status != 400 || len(src.reached()) != 0 {
		t.Errorf("empty cursor: status %d, Source got %q; want 400 and the Source not asked", a.Status, src.reached())
	}
}

// TestNextCursorFromSource: a next cursor the Source hands out is linked only if a
// client could send it back; otherwise the page has no next link (and is not broken).
func TestNextCursorFromSource(t *testing.T) {
	key := newKey(t)
	for _, tc := range cursorCases {
		src := &cursorSource{Memory: publictest.NewMemory(key.Public()), next: tc.cursor}
		h, err := public.NewHandler(public.Config{Source: src, Logger: discardLogger(), RatePerSecond: -1})
		if err != nil {
			t.Fatal(err)
		}
		a := do(t, h, "GET", "/")
		linked := strings.Contains(a.Body, `rel="next"`)
		if a.Status != 200 || linked != tc.ok {
			t.Errorf("next cursor %q (%d bytes): status %d, next link %v; want 200, next link %v", tc.cursor, len(tc.cursor), a.Status, linked, tc.ok)
		}
		if tc.ok && !strings.Contains(a.Body, `href="/?after=`+tc.cursor+`"`) {
			t.Errorf("next cursor %q: link to it missing", tc.cursor)
		}
	}
}

// TestNormalizeTagLength: a tag has 1 to MaxTagRunes characters, counted in runes, not
// bytes.
func TestNormalizeTagLength(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{strings.Repeat("a", public.MaxTagRunes), strings.Repeat("a", public.MaxTagRunes), true},
		{"#" + strings.Repeat("A", public.MaxTagRunes), strings.Repeat("a", public.MaxTagRunes), true},
		{strings.Repeat("é", public.MaxTagRunes), strings.Repeat("é", public.MaxTagRunes), true},
		{strings.Repeat("a", public.MaxTagRunes+1), "", false},
		{strings.Repeat("é", public.MaxTagRunes+1), "", false},
		{"x", "x", true},
		{"#", "", false},
		{"", "", false},
	} {
		got, err := public.NormalizeTag(tc.in)
		if tc.ok != (err == nil) || got != tc.want || (err != nil && !errors.Is(err, public.ErrMalformedTag)) {
			t.Errorf("NormalizeTag(%d runes) = %q, %v; want %q, ok %v", len([]rune(tc.in)), got, err, tc.want, tc.ok)
		}
	}
}

// TestMalformedInputClipped: an error quotes at most 80 bytes of what it was given, so
// a long bad input is not reflected whole into logs and answers.
func TestMalformedInputClipped(t *testing.T) {
	for _, tc := range []struct {
		n      int
		quoted string
	}{
		{79, strings.Repeat("g", 79)},
		{80, strings.Repeat("g", 80)},
		{81, strings.Repeat("g", 80) + "..."},
		{200, strings.Repeat("g", 80) + "..."},
	} {
		_, err := public.ParsePostID(strings.Repeat("g", tc.n))
		if !errors.Is(err, public.ErrMalformedPostID) || !strings.HasSuffix(err.Error(), `("`+tc.quoted+`")`) {
			t.Errorf("ParsePostID(%d bytes): %v; want it to quote %q", tc.n, err, tc.quoted)
		}
	}
}
