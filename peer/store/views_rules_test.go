package store

import (
	"testing"

	"github.com/kithnet/kith/peer/feed"
)

// A stranger who read the class view and then becomes a friend reads its new view from
// its old cursor: every post it may now see comes after that cursor (buildView numbers a
// friend's view after the class view's head), posts written before the friendship
// included, and a page holds at most limit entries.
func TestViewsNewFriendReadsFromItsStrangerCursor(t *testing.T) {
	s, _ := initT(t)
	k := newKey(t).Public()
	for _, text := range []string{"public one", "public two", "public three"} {
		publish(t, s, text, feed.Audience{Public: true})
	}
	friendsOnly := publish(t, s, "for friends", feed.Audience{Friends: true})
	pg, err := s.Changes(k, 0, 1000)
	must(t, err)
	if len(pg.Changes) != 3 || hasID(pg, friendsOnly) {
		t.Fatalf("a stranger's feed: %+v, want the 3 public posts only", pg)
	}
	cursor := pg.Last
	must(t, s.PutFriend(Friend{Key: k, Name: "new"}))
	got, err := s.Changes(k, cursor, 1000)
	must(t, err)
	if !hasID(got, friendsOnly) || len(got.Changes) != 4 || got.More {
		t.Fatalf("the new friend from its stranger cursor %d: %+v, want all 4 posts", cursor, got)
	}
	for _, c := range got.Changes {
		if c.Seq <= cursor {
			t.Errorf("entry %+v numbered at or before the old cursor %d", c, cursor)
		}
	}
	// Pages: exactly limit entries and More while more remain.
	p1, err := s.Changes(k, cursor, 2)
	must(t, err)
	if len(p1.Changes) != 2 || !p1.More || p1.Last != p1.Changes[1].Seq {
		t.Fatalf("a page of 2: %+v", p1)
	}
	p2, err := s.Changes(k, p1.Last, 2)
	must(t, err)
	if len(p2.Changes) != 2 || p2.More {
		t.Fatalf("the second page of 2: %+v", p2)
	}
	// A later post the friend may see lands in its view.
	later := publish(t, s, "later, for friends", feed.Audience{Friends: true})
	p3, err := s.Changes(k, p2.Last, 10)
	must(t, err)
	if len(p3.Changes) != 1 || p3.Changes[0].ID != later {
		t.Fatalf("after a later post: %+v", p3)
	}
}
