package post

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestIsEmojiEdges holds the inputs at each boundary IsEmoji draws: the byte limit, the
// skin tone and regional indicator ranges, and the first and last rune of a
// pictograph range.
func TestIsEmojiEdges(t *testing.T) {
	tags := func(n int) string { // a black flag with n tag characters: 4n+8 bytes
		return "\U0001F3F4" + strings.Repeat("\U000E0067", n) + "\U000E007F"
	}
	tests := []struct {
		in   string
		want bool
	}{
		{tags(6), true},       // exactly MaxEmoji bytes
		{tags(7), false},      // one tag past it
		{"👍\U0001F3FB", true}, // the lightest skin tone, the range's first rune
		{"👍\U0001F3FF", true}, // the darkest, its last
		{"👍\U0001F3FA", false},
		{"\U0001F1E6\U0001F1E6", true},                    // the first regional indicator
		{"\U0001F1FF\U0001F1FF", true},                    // the last
		{"\U0001F1E5\U0001F1E6", false},                   // U+1F1E5 is a pictograph of its own; a lone indicator may not follow
		{"©", true}, {"\u00A8", false}, {"\u00AA", false}, // a one-rune range: both edges at once
		{"\U0001F300", true}, {"\U0001F3FA", true}, // a wide range's first and last rune
	}
	if len(tags(6)) != MaxEmoji {
		t.Fatalf("tags(6) is %d bytes, want MaxEmoji (%d)", len(tags(6)), MaxEmoji)
	}
	for _, tc := range tests {
		if got := IsEmoji(tc.in); got != tc.want {
			t.Errorf("IsEmoji(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestSealReplyKeepsItsID: an edit names the reply it replaces; only a zero ID gets a
// fresh one.
func TestSealReplyKeepsItsID(t *testing.T) {
	bob, alice := key(t), key(t)
	pid, _ := NewID(nil)
	id, _ := NewID(nil)
	now := time.UnixMilli(1_700_000_000_000)
	_, r, err := SealReply(bob, ReplyDraft{ID: id, Version: 2, Created: now, Now: now, PostAuthor: alice.Public(), PostID: pid, Text: "edited"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.GetId(), id[:]) {
		t.Fatalf("SealReply with ID %x made reply %x", id, r.GetId())
	}
	_, fresh, err := SealReply(bob, ReplyDraft{Now: now, PostAuthor: alice.Public(), PostID: pid, Text: "new"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(fresh.GetId(), make([]byte, len(id))) {
		t.Fatal("a new reply kept the zero ID")
	}
}
