package store

import (
	"testing"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/shared/identity"
)

// Issue 13 item 7: what a viewer learns from the feed (its entries, their numbers,
// last_seq, More) depends only on what it may see. A stranger and a friend outside a group
// watch their feeds while private and group posts, edits, audience and friend changes
// happen: nothing moves. Then something each may see happens: exactly one entry each,
// numbered right after their last_seq.
func TestViewsHideWhatAViewerMayNotSee(t *testing.T) {
	s, _ := initT(t)
	stranger, outsider, member, removed := newKey(t).Public(), newKey(t).Public(), newKey(t).Public(), newKey(t).Public()
	for _, f := range []Friend{{Key: outsider, Name: "out"}, {Key: member, Name: "in", Groups: []string{"climbing"}}, {Key: removed, Name: "gone"}} {
		if err := s.PutFriend(f); err != nil {
			t.Fatal(err)
		}
	}
	pub := publish(t, s, "hello world", feed.Audience{Public: true})
	shared := publish(t, s, "for all friends", feed.Audience{Friends: true})

	type seen struct {
		last    uint64
		entries int
		more    bool
	}
	look := func(v identity.PublicKey) seen {
		t.Helper()
		pg, err := s.Changes(v, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return seen{pg.Last, len(pg.Changes), pg.More}
	}
	watchers := map[string]identity.PublicKey{"stranger": stranger, "friend outside the group": outsider}
	before := map[string]seen{}
	for name, k := range watchers {
		before[name] = look(k)
	}

	// Private activity: none of it is any of the watchers' business.
	group := publish(t, s, "climbing trip", feed.Audience{Groups: []string{"climbing"}})
	one := publish(t, s, "for one friend", feed.Audience{People: []identity.ID{member.ID()}})
	me := publish(t, s, "note to self", feed.Audience{Me: true})
	must(t, s.Edit(group, "climbing trip, edited"))
	must(t, s.Edit(one, "for one friend, edited"))
	must(t, s.SetAudience(me, feed.Audience{Groups: []string{"climbing"}}))
	must(t, s.Delete(group))
	must(t, s.PutFriend(Friend{Key: member, Name: "in", Groups: []string{"climbing", "chess"}}))
	must(t, s.PutFriend(Friend{Key: newKey(t).Public(), Name: "new", Groups: []string{"climbing"}}))
	must(t, s.RemoveFriend(removed))
	for i := 0; i < 40; i++ { // more hidden changes than one call would once examine
		publish(t, s, "quiet", feed.Audience{Groups: []string{"climbing"}})
	}
	for name, k := range watchers {
		if got := look(k); got != before[name] {
			t.Errorf("%s: feed moved with activity it may not see: %+v, then %+v", name, before[name], got)
		}
	}

	// Something both may see: one entry each, right after what they had.
	must(t, s.Edit(pub, "hello again, world"))
	for name, k := range watchers {
		pg, err := s.Changes(k, before[name].last, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(pg.Changes) != 1 || pg.Changes[0].ID != pub || pg.Changes[0].Seq != before[name].last+1 || pg.Last != before[name].last+1 || pg.More {
			t.Errorf("%s after a public edit: %+v, want only %s at %d", name, pg, pub, before[name].last+1)
		}
	}

	// The removed friend learns the revocation of what it saw, once, and nothing else.
	pg, err := s.Changes(removed, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	revoked := map[post.ID]int{}
	for _, c := range pg.Changes {
		if c.Kind == feed.Revoked {
			revoked[c.ID]++
		}
		if c.ID == group || c.ID == one || c.ID == me {
			t.Errorf("the removed friend hears of %s, which it never saw", c.ID)
		}
	}
	if revoked[shared] != 1 {
		t.Errorf("the removed friend got %d revocations of the post it saw, want 1: %+v", revoked[shared], pg.Changes)
	}
	must(t, s.Edit(shared, "for all friends, edited"))
	if pg2, _ := s.Changes(removed, pg.Last, 10); len(pg2.Changes) != 0 || pg2.Last != pg.Last {
		t.Errorf("an edit of a revoked post moved the removed friend's feed: %+v", pg2)
	}

	// The group member saw the group post's versions and its deletion.
	if pg, _ := s.Changes(member, 0, 1000); !hasID(pg, group) {
		t.Errorf("the member's feed lacks the group post: %+v", pg)
	}
}

func publish(t *testing.T, s *Store, text string, a feed.Audience) post.ID {
	t.Helper()
	id, err := s.Publish(NewPost{Text: text, Audience: a})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func hasID(pg Page, id post.ID) bool {
	for _, c := range pg.Changes {
		if c.ID == id {
			return true
		}
	}
	return false
}
