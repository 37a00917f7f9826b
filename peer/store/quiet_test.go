package store

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/post"
)

// TestFirstPostAfterAWhile: a friend's post notifies the person when it breaks a
// silence of QuietPeriod and is itself recent; not the first post ever pulled, not a
// post close to the previous one, not an old post arriving late, not an edit.
func TestFirstPostAfterAWhile(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	s, err := Open(Config{Home: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Init(newKey(t), "me"); err != nil {
		t.Fatal(err)
	}
	friend := newKey(t)
	if err := s.PutFriend(Friend{Key: friend.Public()}); err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	cursor := uint64(0)
	pull := func(text string, created time.Time) post.ID {
		t.Helper()
		env, p, err := post.Seal(friend, post.Draft{Text: text, Created: created, Now: created})
		if err != nil {
			t.Fatal(err)
		}
		cursor++
		if _, err := s.Apply(friend.Public(), Batch{Posts: []Verified{{env, p}}, Cursor: cursor}); err != nil {
			t.Fatal(err)
		}
		return post.ID(p.GetId())
	}
	posts := func() []Note {
		t.Helper()
		ns, _, err := s.Notes(true)
		if err != nil {
			t.Fatal(err)
		}
		var out []Note
		for _, n := range ns {
			if n.Kind == NotePost {
				out = append(out, n)
			}
		}
		return out
	}
	for _, step := range []struct {
		what    string
		text    string
		created time.Time
		notify  bool
	}{
		{"the first post ever pulled (history)", "long ago", now.Add(-30 * day), false},
		{"a post after 20 days of silence, but written 10 days ago", "took its time", now.Add(-10 * day), false},
		{"a recent post after 9 days of silence", "back from the mountains", now.Add(-1 * day), true},
		{"a post a day after the previous", "and another", now, false},
		{"an old post arriving late", "written before", now.Add(-20 * day), false},
	} {
		before := len(posts())
		id := pull(step.text, step.created)
		got := posts()
		if step.notify {
			if len(got) != before+1 || got[0].PostID != id || got[0].From != friend.Public() || got[0].Text != step.text {
				t.Fatalf("%s: notes %+v, want one for post %x", step.what, got, id)
			}
		} else if len(got) != before {
			t.Fatalf("%s: a note was added: %+v", step.what, got[0])
		}
	}
	// A week later exactly: notified. Then a post claiming next year, and one a day
	// after it really is written: the claim counts as now, so 8 days on still notifies.
	now = now.Add(QuietPeriod)
	pull("a week on", now)
	if n := len(posts()); n != 2 {
		t.Fatalf("after a silence of exactly QuietPeriod: %d post notes, want 2", n)
	}
	pull("from the future", now.Add(365*day))
	now = now.Add(8 * day)
	pull("8 days after a future claim", now)
	if n := len(posts()); n != 3 {
		t.Fatalf("a future creation time silenced the next post: %d post notes, want 3", n)
	}
}
