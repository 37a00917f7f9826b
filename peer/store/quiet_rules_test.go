package store

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/post"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	"github.com/kithnet/kith/shared/identity"
)

// newerPost picks the later creation time; on a tie, and against nil, the first held.
func TestNewerPost(t *testing.T) {
	older := &postv1.Payload{CreatedUnixMs: 1000, Text: "older"}
	newer := &postv1.Payload{CreatedUnixMs: 2000, Text: "newer"}
	tie := &postv1.Payload{CreatedUnixMs: 2000, Text: "tie"}
	for _, tc := range []struct {
		a, b, want *postv1.Payload
	}{
		{nil, nil, nil}, {nil, older, older}, {older, nil, older},
		{older, newer, newer}, {newer, older, newer}, {newer, tie, newer}, {tie, newer, tie},
	} {
		if got := newerPost(tc.a, tc.b); got != tc.want {
			t.Errorf("newerPost(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// A post written exactly QuietPeriod ago does not notify, even after a long silence; an
// old post arriving late does not move the mark back; a friend's post that mentions the person does.
func TestQuietEdgeAndMention(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	s, err := Open(Config{Home: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }})
	must(t, err)
	t.Cleanup(func() { s.Close() })
	me := newKey(t)
	must(t, s.Init(me, "me"))
	friend := newKey(t)
	must(t, s.PutFriend(Friend{Key: friend.Public()}))
	cursor := uint64(0)
	pull := func(text string, created time.Time, mentions ...identity.PublicKey) {
		t.Helper()
		env, p, err := post.Seal(friend, post.Draft{Text: text, Created: created, Now: created, Mentions: mentions})
		must(t, err)
		cursor++
		if _, err := s.Apply(friend.Public(), Batch{Posts: []Verified{{env, p}}, Cursor: cursor}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(k NoteKind) int {
		t.Helper()
		ns, _, err := s.Notes(true)
		must(t, err)
		n := 0
		for _, x := range ns {
			if x.Kind == k {
				n++
			}
		}
		return n
	}
	pull("long ago", now.Add(-30*24*time.Hour))
	pull("exactly a quiet period ago", now.Add(-QuietPeriod))
	if n := count(NotePost); n != 0 {
		t.Fatalf("%d post notes for a post exactly QuietPeriod old, want 0", n)
	}
	// An old post arriving late leaves the mark at the newest: a post a day later is no return.
	pull("written long before", now.Add(-20*24*time.Hour))
	now = now.Add(24 * time.Hour)
	pull("a day later", now.Add(-QuietPeriod+24*time.Hour))
	if n := count(NotePost); n != 0 {
		t.Fatalf("%d post notes after a late old post, want 0", n)
	}
	pull("hi @me", now, me.Public())
	if n := count(NoteMention); n != 1 {
		t.Fatalf("%d mention notes, want 1", n)
	}
}
