package store

import (
	"context"
	"sync"
	"time"

	"github.com/kithnet/kith/shared/identity"
)

// Memory is the in-process Store for a single rendezvous instance. Expiry follows the
// clock it is given, so tests can move time.
type Memory struct {
	now func() time.Time

	mu      sync.Mutex
	closed  bool
	records map[identity.Fingerprint]memRecord
	devices map[identity.Fingerprint]memDevices
	claims  map[string]time.Time
	windows map[string]memWindow
	subs    map[identity.Fingerprint]map[*memSub]struct{}
	ops     int
	dropped uint64 // messages a full subscriber queue refused
}

type memRecord struct {
	rec     Record
	expires time.Time
}

type memWindow struct {
	end   time.Time
	count int
}

// NewMemory returns an empty in-memory store on clock now (time.Now when nil).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{
		now:     now,
		records: map[identity.Fingerprint]memRecord{},
		devices: map[identity.Fingerprint]memDevices{},
		claims:  map[string]time.Time{},
		windows: map[string]memWindow{},
		subs:    map[identity.Fingerprint]map[*memSub]struct{}{},
	}
}

// sweepEvery bounds memory by dropping expired entries every so many writes, so no
// goroutine is needed.
const sweepEvery = 1024

func (m *Memory) write() {
	m.ops++
	if m.ops%sweepEvery != 0 {
		return
	}
	now := m.now()
	for fp, r := range m.records {
		if !now.Before(r.expires) {
			delete(m.records, fp)
		}
	}
	for fp := range m.devices {
		m.liveDevicesLocked(fp, now)
	}
	for k, exp := range m.claims {
		if !now.Before(exp) {
			delete(m.claims, k)
		}
	}
	for k, w := range m.windows {
		if !now.Before(w.end) {
			delete(m.windows, k)
		}
	}
}

// Put implements Store.
func (m *Memory) Put(ctx context.Context, fp identity.Fingerprint, rec Record, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	now := m.now()
	if old, ok := m.records[fp]; ok && now.Before(old.expires) && old.rec.TimestampMs >= rec.TimestampMs {
		return ErrNotNewer
	}
	rec.Envelope = append([]byte(nil), rec.Envelope...)
	m.records[fp] = memRecord{rec: rec, expires: now.Add(ttl)}
	m.write()
	return nil
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, fp identity.Fingerprint) (Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Record{}, ErrClosed
	}
	r, ok := m.records[fp]
	if !ok || !m.now().Before(r.expires) {
		return Record{}, ErrNotFound
	}
	r.rec.Envelope = append([]byte(nil), r.rec.Envelope...)
	return r.rec, nil
}

// GetMany implements Store.
func (m *Memory) GetMany(ctx context.Context, fps []identity.Fingerprint) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	out := make([]Record, len(fps))
	now := m.now()
	for i, fp := range fps {
		if r, ok := m.records[fp]; ok && now.Before(r.expires) {
			out[i] = Record{Envelope: append([]byte(nil), r.rec.Envelope...), TimestampMs: r.rec.TimestampMs}
		}
	}
	return out, nil
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, fp identity.Fingerprint, beforeMs int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if r, ok := m.records[fp]; ok && r.rec.TimestampMs < beforeMs {
		delete(m.records, fp)
	}
	return nil
}

// Claim implements Store.
func (m *Memory) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, ErrClosed
	}
	now := m.now()
	if exp, ok := m.claims[key]; ok && now.Before(exp) {
		return false, nil
	}
	m.claims[key] = now.Add(ttl)
	m.write()
	return true, nil
}

// Allow implements Store.
func (m *Memory) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, error) {
	return m.AllowN(ctx, key, 1, limit, window)
}

// AllowKey implements Store.
func (m *Memory) AllowKey(ctx context.Context, fp identity.Fingerprint, limit int, window time.Duration) (bool, error) {
	return m.AllowN(ctx, "fp:"+string(fp), 1, limit, window)
}

// AllowN implements Store.
func (m *Memory) AllowN(ctx context.Context, key string, n, limit int, window time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, ErrClosed
	}
	now := m.now()
	w := m.windows[key]
	if !now.Before(w.end) {
		w = memWindow{end: now.Add(window)}
	}
	w.count += n
	m.windows[key] = w
	m.write()
	return w.count <= limit, nil
}

// Publish implements Store.
func (m *Memory) Publish(ctx context.Context, fp identity.Fingerprint, msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if len(m.subs[fp]) == 0 {
		return ErrNoListener
	}
	for s := range m.subs[fp] {
		select {
		case s.ch <- append([]byte(nil), msg...):
		default: // a listener that does not read loses offers rather than blocking others
			m.dropped++
		}
	}
	return nil
}

// Subscribe implements Store.
func (m *Memory) Subscribe(ctx context.Context, fp identity.Fingerprint) (Subscription, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	s := &memSub{m: m, fp: fp, ch: make(chan []byte, subQueue)}
	if m.subs[fp] == nil {
		m.subs[fp] = map[*memSub]struct{}{}
	}
	m.subs[fp][s] = struct{}{}
	// No goroutine per subscription: at 100k Listen streams each one's stack counts.
	s.stopCtx = context.AfterFunc(ctx, s.end)
	return s, nil
}

// Dropped counts the messages refused because a subscriber's queue was full.
func (m *Memory) Dropped() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dropped
}

// Close implements Store: it ends every subscription.
func (m *Memory) Close() error {
	m.mu.Lock()
	var all []*memSub
	for _, set := range m.subs {
		for s := range set {
			all = append(all, s)
		}
	}
	m.closed = true
	m.mu.Unlock()
	for _, s := range all {
		s.Close()
	}
	return nil
}

type memSub struct {
	m       *Memory
	fp      identity.Fingerprint
	ch      chan []byte
	once    sync.Once
	stopCtx func() bool
}

func (s *memSub) Messages() <-chan []byte { return s.ch }

// end unsubscribes and closes the channel; Publish holds the same lock, so it never
// sends on a closed channel.
func (s *memSub) end() {
	s.once.Do(func() {
		s.m.mu.Lock()
		delete(s.m.subs[s.fp], s)
		if len(s.m.subs[s.fp]) == 0 {
			delete(s.m.subs, s.fp)
		}
		close(s.ch)
		s.m.mu.Unlock()
	})
}

func (s *memSub) Close() error {
	s.stopCtx()
	s.end()
	return nil
}
