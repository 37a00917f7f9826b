package store_test

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
)

func newID(t *testing.T) post.ID {
	t.Helper()
	id, err := post.NewID(nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// The quota is a bound met exactly, counted across one batch and net of the parcel a
// newer one replaces; the usage counters follow every keep and replacement.
func TestCarryQuotaExact(t *testing.T) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	alice, bob := key(t), key(t)
	p0 := sealPost(t, alice, newID(t), 1, 10, false, bob)
	s0 := usageOf(t, p0)
	apply := func(st *store.Store, pol store.CarryPolicy, ps ...sealedPost) store.CarryResult {
		t.Helper()
		res, err := st.ApplyParcels(alice.Public(), carryBatch(ps...), pol)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	// A quota of exactly one parcel's size keeps it.
	st, _ := home(t, c, alice)
	if res := apply(st, store.CarryPolicy{Quota: s0}, p0); res.Kept != 1 || len(res.Refused) != 0 {
		t.Errorf("quota of exactly the parcel's size: kept %d refused %v, want it kept", res.Kept, res.Refused)
	}

	// Two parcels in one batch against a quota of one and a half: the second is refused.
	st, _ = home(t, c, alice)
	p1 := sealPost(t, alice, newID(t), 1, 10, false, bob)
	if res := apply(st, store.CarryPolicy{Quota: s0 + s0/2}, p0, p1); res.Kept != 1 || len(res.Refused) != 1 {
		t.Errorf("two parcels in one batch over the quota: kept %d refused %v, want 1 and 1", res.Kept, res.Refused)
	}

	// A newer parcel of a held slot frees the older one's bytes within the same batch.
	st, _ = home(t, c, alice)
	pol := store.CarryPolicy{Quota: 2*s0 + s0/2}
	apply(st, pol, p0)
	var id0 post.ID
	copy(id0[:], p0.post.Payload.GetId())
	newer := sealPost(t, alice, id0, 2, 11, false, bob)
	if newer.parcel.GetSlot() == nil || string(newer.parcel.GetSlot()) != string(p0.parcel.GetSlot()) {
		t.Fatal("a newer parcel of the same post must share its slot")
	}
	if res := apply(st, pol, newer, p1); res.Kept != 2 || len(res.Refused) != 0 {
		t.Errorf("a replacement then a new parcel within the quota: kept %d refused %v, want 2 kept", res.Kept, res.Refused)
	}
	want := usageOf(t, newer) + usageOf(t, p1)
	if u := usage(t, st, alice.Public()); u.Parcels != 2 || u.Bytes != want {
		t.Errorf("usage after a replacement: %+v, want 2 parcels of %d bytes", u, want)
	}
	// Replacing one of two held parcels takes the older one's bytes off the count.
	var id1 post.ID
	copy(id1[:], p1.post.Payload.GetId())
	p1b := sealPost(t, alice, id1, 2, 12, false, bob)
	if res := apply(st, pol, p1b); res.Kept != 1 {
		t.Fatalf("a newer parcel: kept %d, want 1", res.Kept)
	}
	want = usageOf(t, newer) + usageOf(t, p1b)
	if u := usage(t, st, alice.Public()); u.Parcels != 2 || u.Bytes != want {
		t.Errorf("usage after replacing one of two: %+v, want 2 parcels of %d bytes", u, want)
	}
}

// The parcel log pages by count and by bytes (always at least one parcel), and serves
// the very bytes it kept.
func TestParcelPages(t *testing.T) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	alice, bob := key(t), key(t)
	st, _ := home(t, c, alice)
	ps := []sealedPost{
		sealPost(t, alice, newID(t), 1, 1, false, bob),
		sealPost(t, alice, newID(t), 1, 1, false, bob),
		sealPost(t, alice, newID(t), 1, 1, false, bob),
	}
	if res, err := st.ApplyParcels(alice.Public(), carryBatch(ps...), store.CarryPolicy{Quota: 1 << 20}); err != nil || res.Kept != 3 {
		t.Fatalf("kept %d (%v), want 3", res.Kept, err)
	}
	s0, s1 := int(usageOf(t, ps[0])), int(usageOf(t, ps[1]))
	tests := []struct {
		name            string
		limit, maxBytes int
		want            int
		more            bool
	}{
		{"limit 1", 1, 1 << 20, 1, true},
		{"limit 3 takes all", 3, 1 << 20, 3, false},
		{"one byte still gives one parcel", 10, 1, 1, true},
		{"exactly two parcels' bytes", 10, s0 + s1, 2, true},
		{"one and a half parcels' bytes", 10, s0 + s0/2, 1, true},
	}
	for _, tc := range tests {
		pg, err := st.ParcelsSince(0, tc.limit, tc.maxBytes)
		if err != nil || len(pg.Parcels) != tc.want || pg.More != tc.more {
			t.Errorf("%s: %d parcels more=%v (%v), want %d more=%v", tc.name, len(pg.Parcels), pg.More, err, tc.want, tc.more)
			continue
		}
		for i, env := range pg.Parcels {
			if !proto.Equal(env, ps[i].env) {
				t.Errorf("%s: parcel %d is not the one kept", tc.name, i)
			}
		}
	}
}

// Own parcels stored together are all kept, each with its digest and seq.
func TestPutOwnParcelsAll(t *testing.T) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	bob := key(t)
	st, me := home(t, c)
	var ops []store.OwnParcel
	for i := range 3 {
		id := newID(t)
		p := sealPost(t, me, id, 1, uint64(5+i), false, bob)
		dg := make([]byte, 32)
		dg[0] = byte(i + 1)
		ops = append(ops, store.OwnParcel{Key: store.OwnParcelKey(id, nil), Digest: dg, Envelope: p.env, Parcel: p.parcel})
	}
	if err := st.PutOwnParcels(ops); err != nil {
		t.Fatal(err)
	}
	for i, op := range ops {
		dg, seq, err := st.OwnParcelDigest(op.Key)
		if err != nil || string(dg) != string(op.Digest) || seq != uint64(5+i) {
			t.Errorf("own parcel %d: digest %x seq %d (%v), want %x %d", i, dg, seq, err, op.Digest, 5+i)
		}
	}
	if u := usage(t, st, me.Public()); !u.Own || u.Parcels != 3 {
		t.Errorf("own usage %+v, want 3 parcels", u)
	}
	pg, err := st.ParcelsSince(0, 10, 1<<20)
	if err != nil || len(pg.Parcels) != 3 {
		t.Fatalf("parcel log: %d (%v), want 3", len(pg.Parcels), err)
	}
	for i, env := range pg.Parcels {
		if !proto.Equal(env, ops[i].Envelope) {
			t.Errorf("own parcel %d served is not the one stored", i)
		}
	}
}

// A friend's parcel cursor moves forward with every batch and never back.
func TestParcelCursorForward(t *testing.T) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	alice := key(t)
	st, _ := home(t, c, alice)
	for _, s := range []struct{ cursor, want uint64 }{{5, 5}, {9, 9}, {3, 9}, {9, 9}, {12, 12}} {
		if _, err := st.ApplyParcels(alice.Public(), store.ParcelBatch{Cursor: s.cursor}, store.CarryPolicy{Quota: 1 << 20}); err != nil {
			t.Fatal(err)
		}
		if got, err := st.ParcelCursor(alice.Public()); err != nil || got != s.want {
			t.Errorf("after a batch at %d: cursor %d (%v), want %d", s.cursor, got, err, s.want)
		}
	}
}

// Carried posts and revocations are counted exactly: a post stored once, the same
// version again ignored, a revocation of exactly the held version dropping it.
func TestCarriedCounts(t *testing.T) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	alice, carol := key(t), key(t)
	st, me := home(t, c, alice, carol)
	id := newID(t)
	pol := store.CarryPolicy{Quota: 1 << 20}
	cp := func(v uint64) store.CarriedPost {
		p := sealPost(t, alice, id, v, v, false, me)
		return store.CarriedPost{Author: alice.Public(), Post: store.Verified{Envelope: p.post.Envelope, Payload: p.post.Payload}}
	}
	steps := []struct {
		name                     string
		b                        store.ParcelBatch
		stored, ignored, dropped int
		held                     uint64
	}{
		{"version 2", store.ParcelBatch{Posts: []store.CarriedPost{cp(2)}}, 1, 0, 0, 2},
		{"version 2 again", store.ParcelBatch{Posts: []store.CarriedPost{cp(2)}}, 0, 1, 0, 2},
		{"revocation of exactly version 2", store.ParcelBatch{Revocations: []store.CarriedRevocation{{Author: alice.Public(), ID: id, Version: 2}}}, 0, 0, 1, 0},
		{"version 2 after its revocation", store.ParcelBatch{Posts: []store.CarriedPost{cp(2)}}, 0, 1, 0, 0},
		{"version 3", store.ParcelBatch{Posts: []store.CarriedPost{cp(3)}}, 1, 0, 0, 3},
		{"revocation of version 2 again", store.ParcelBatch{Revocations: []store.CarriedRevocation{{Author: alice.Public(), ID: id, Version: 2}}}, 0, 0, 0, 3},
	}
	for _, s := range steps {
		res, err := st.ApplyParcels(carol.Public(), s.b, pol)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if res.Stored[alice.Public()] != s.stored || res.Ignored != s.ignored || res.Dropped != s.dropped {
			t.Errorf("%s: stored %d ignored %d dropped %d, want %d %d %d", s.name, res.Stored[alice.Public()], res.Ignored, res.Dropped, s.stored, s.ignored, s.dropped)
		}
		var held uint64
		p, err := st.Post(alice.Public(), id)
		switch {
		case err == nil:
			held = p.Payload.GetVersion()
		case !errors.Is(err, store.ErrNotFound):
			t.Fatal(err)
		}
		if held != s.held {
			t.Errorf("%s: holds version %d, want %d", s.name, held, s.held)
		}
	}
}

// A carried parcel received exactly the retention ago stays; a millisecond later it goes.
func TestRetentionEdge(t *testing.T) {
	start := time.UnixMilli(1_800_000_000_123)
	c := &clock{start}
	alice, bob := key(t), key(t)
	st, _ := home(t, c, alice)
	if _, err := st.ApplyParcels(alice.Public(), carryBatch(sealPost(t, alice, newID(t), 1, 1, false, bob)), store.CarryPolicy{Quota: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		after time.Duration
		want  int
	}{{time.Hour, 0}, {time.Hour + time.Millisecond, 1}} {
		c.t = start.Add(s.after)
		if n, err := st.ExpireCarried(time.Hour); err != nil || n != s.want {
			t.Errorf("%v after receipt: expired %d (%v), want %d", s.after, n, err, s.want)
		}
	}
}
