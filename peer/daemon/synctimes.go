package daemon

import (
	"sync"
	"time"

	"github.com/kithnet/kith/shared/identity"
)

// SyncTimes remembers when each friend was last pulled from, for `kith status`.
type SyncTimes struct {
	mu  sync.Mutex
	now func() time.Time
	at  map[identity.ID]int64
}

// NewSyncTimes returns an empty record using clock now (time.Now when nil).
func NewSyncTimes(now func() time.Time) *SyncTimes {
	if now == nil {
		now = time.Now
	}
	return &SyncTimes{now: now, at: map[identity.ID]int64{}}
}

// Mark records a completed pull from id now.
func (s *SyncTimes) Mark(id identity.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at[id] = s.now().UnixMilli()
}

// Get returns when id was last pulled from, in Unix milliseconds; 0 for never.
func (s *SyncTimes) Get(id identity.ID) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.at[id]
}
