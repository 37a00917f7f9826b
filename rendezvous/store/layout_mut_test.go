package store

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/identity"
)

// TestParseDeviceValueHeaderBound: a value of exactly the header is a record with an
// empty envelope; one byte less is corrupt.
func TestParseDeviceValueHeaderBound(t *testing.T) {
	v := make([]byte, deviceHeaderLen)
	binary.BigEndian.PutUint64(v[:8], 42)
	rec, err := parseDeviceValue(string(v))
	if err != nil || rec.TimestampMs != 42 || len(rec.Envelope) != 0 {
		t.Fatalf("parse of a bare header = %+v, %v; want ts 42, empty envelope", rec, err)
	}
	if _, err := parseDeviceValue(string(v[:deviceHeaderLen-1])); !errors.Is(err, errCorrupt) {
		t.Fatalf("parse of a short value: %v, want errCorrupt", err)
	}
}

// TestPeerKeyRawFingerprint: a fingerprint's key holds its raw 32 bytes, anything
// else is kept as given.
func TestPeerKeyRawFingerprint(t *testing.T) {
	fp := fingerprint(t)
	raw, err := fpEncoding.DecodeString(string(fp))
	if err != nil || len(raw) != 32 {
		t.Fatalf("decode of a fingerprint: %d bytes, %v", len(raw), err)
	}
	if got, want := peerKey(fp), layoutPrefix+string(raw); got != want {
		t.Fatalf("peerKey(%s) = %q, want the raw form %q", fp, got, want)
	}
	for _, k := range []string{"short", string(fp[:51]) + "1"} { // wrong length; '1' is not base32 here
		if got := peerKey(identity.Fingerprint(k)); got != layoutPrefix+k {
			t.Fatalf("peerKey(%q) = %q, want it kept as given", k, got)
		}
	}
}

// TestMemorySweepCadence: expired records are dropped on every sweepEvery-th write,
// not on each one (a sweep walks every map).
func TestMemorySweepCadence(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	m := NewMemory(clock.Now)
	t.Cleanup(func() { m.Close() })
	old := fingerprint(t)
	must(t, m.Put(t.Context(), old, Record{Envelope: []byte("x"), TimestampMs: 1}, time.Second))
	clock.Add(2 * time.Second)
	live := fingerprint(t)
	for i := 2; i < sweepEvery; i++ {
		must(t, m.Put(t.Context(), live, Record{Envelope: []byte("y"), TimestampMs: int64(i)}, time.Hour))
	}
	m.mu.Lock()
	_, kept := m.records[old]
	m.mu.Unlock()
	if !kept {
		t.Fatalf("expired record swept before write %d", sweepEvery)
	}
	must(t, m.Put(t.Context(), live, Record{Envelope: []byte("y"), TimestampMs: sweepEvery}, time.Hour))
	m.mu.Lock()
	_, kept = m.records[old]
	_, liveKept := m.records[live]
	m.mu.Unlock()
	if kept || !liveKept {
		t.Fatalf("after write %d: expired kept %v, live kept %v; want false, true", sweepEvery, kept, liveKept)
	}
}
