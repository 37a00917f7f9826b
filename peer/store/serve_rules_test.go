package store

import (
	"testing"

	"github.com/kithnet/kith/peer/feed"
)

// The home's own key reads the global log in pages of exactly limit entries, More set
// while entries remain, and a small limit still yields entries.
func TestOwnChangesPages(t *testing.T) {
	s, k := initT(t)
	for _, a := range []feed.Audience{{Public: true}, {Me: true}, {Friends: true}} {
		publish(t, s, "post", a)
	}
	for _, tc := range []struct {
		limit, want int
		more        bool
	}{{1, 1, true}, {2, 2, true}, {3, 3, false}, {100, 3, false}} {
		pg, err := s.Changes(k.Public(), 0, tc.limit)
		must(t, err)
		if len(pg.Changes) != tc.want || pg.More != tc.more {
			t.Errorf("Changes(self, 0, %d) = %d entries, more %v; want %d, %v", tc.limit, len(pg.Changes), pg.More, tc.want, tc.more)
		}
	}
}
