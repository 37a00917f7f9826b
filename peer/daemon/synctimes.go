package daemon

import (
	"cmp"
	"slices"
	"sync"
	"time"

	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
	"github.com/kithnet/kith/shared/identity"
)

// SyncTimes remembers, per friend, when a pull last completed and how much pulls have
// stored since the daemon started: `kith status` and the progress of `kith sync`.
type SyncTimes struct {
	mu  sync.Mutex
	now func() time.Time
	at  map[identity.ID]int64
	got map[identity.ID]*localv1.FriendProgress
	// told is, per friend, the stored count a sync has already reported.
	told map[identity.ID]uint64
}

// NewSyncTimes returns an empty record using clock now (time.Now when nil).
func NewSyncTimes(now func() time.Time) *SyncTimes {
	if now == nil {
		now = time.Now
	}
	return &SyncTimes{now: now, at: map[identity.ID]int64{}, got: map[identity.ID]*localv1.FriendProgress{},
		told: map[identity.ID]uint64{}}
}

// Mark records a completed pull from id now.
func (s *SyncTimes) Mark(id identity.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at[id] = s.now().UnixMilli()
}

// Step records one stored pull step from id: stored posts, and the cursor reached.
func (s *SyncTimes) Step(id identity.ID, stored int, cursor uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at[id] = s.now().UnixMilli()
	p := s.got[id]
	if p == nil {
		p = &localv1.FriendProgress{FriendId: string(id)}
		s.got[id] = p
	}
	p.Stored += uint64(stored)
	p.Cursor = cursor
}

// Untold returns how many posts pulls from id have stored since the last call for id
// (the kept-open connection's deliveries, which 'kith sync' reports as arrived too).
func (s *SyncTimes) Untold(id identity.ID) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.got[id]
	if p == nil {
		return 0
	}
	n := p.Stored - s.told[id]
	s.told[id] = p.Stored
	return n
}

// Get returns when id was last pulled from, in Unix milliseconds; 0 for never.
func (s *SyncTimes) Get(id identity.ID) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.at[id]
}

// Progress returns a copy of what pulls have stored, per friend, sorted by ID.
func (s *SyncTimes) Progress() []*localv1.FriendProgress {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*localv1.FriendProgress, 0, len(s.got))
	for _, p := range s.got {
		out = append(out, &localv1.FriendProgress{FriendId: p.FriendId, Stored: p.Stored, Cursor: p.Cursor})
	}
	slices.SortFunc(out, func(a, b *localv1.FriendProgress) int { return cmp.Compare(a.FriendId, b.FriendId) })
	return out
}
