package store_test

import (
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/carry"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func key(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// home opens a store whose identity is me, with friends, on clock c.
func home(t *testing.T, c *clock, friends ...*identity.Key) (*store.Store, *identity.Key) {
	t.Helper()
	st, err := store.Open(store.Config{Home: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: c.now, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	me := key(t)
	if err := st.Init(me, "me"); err != nil {
		t.Fatal(err)
	}
	for _, f := range friends {
		if err := st.PutFriend(store.Friend{Key: f.Public(), Name: "f"}); err != nil {
			t.Fatal(err)
		}
	}
	return st, me
}

type sealedPost struct {
	env    *signedv1.Envelope
	parcel *syncv1.Parcel
	post   carry.Post
}

func sealPost(t *testing.T, author *identity.Key, id post.ID, version, seq uint64, deleted bool, readers ...*identity.Key) sealedPost {
	t.Helper()
	text := "words"
	if deleted {
		text = ""
	}
	env, pl, err := post.Seal(author, post.Draft{ID: id, Version: version, Text: text, Deleted: deleted, Now: time.UnixMilli(1_800_000_000_000)})
	if err != nil {
		t.Fatal(err)
	}
	var rs []identity.PublicKey
	for _, r := range readers {
		rs = append(rs, r.Public())
	}
	p := carry.Post{Envelope: env, Payload: pl}
	pe, err := carry.Make(author, p, rs, seq, time.UnixMilli(1_800_000_000_000))
	if err != nil {
		t.Fatal(err)
	}
	parcel, err := carry.Check(pe)
	if err != nil {
		t.Fatal(err)
	}
	return sealedPost{pe, parcel, p}
}

func carryBatch(ps ...sealedPost) store.ParcelBatch {
	var b store.ParcelBatch
	for _, p := range ps {
		b.Carry, b.Parcels = append(b.Carry, p.env), append(b.Parcels, p.parcel)
	}
	return b
}

func usage(t *testing.T, st *store.Store, from identity.PublicKey) store.CarriedUse {
	t.Helper()
	us, err := st.CarriedUsage()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if u.From == from {
			return u
		}
	}
	return store.CarriedUse{}
}

// A carrier keeps a friend's parcels within the quota, newest per slot; over it, new
// parcels are refused with the reason and nothing held is dropped for them.
func TestCarryQuotaAndOrder(t *testing.T) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	alice, bob, stranger := key(t), key(t), key(t)
	st, _ := home(t, c, alice)
	ids := make([]post.ID, 4)
	for i := range ids {
		ids[i], _ = post.NewID(nil)
	}
	p0 := sealPost(t, alice, ids[0], 1, 10, false, bob)
	size := usageOf(t, p0)
	pol := store.CarryPolicy{Quota: 2*size + size/2, Retention: time.Hour}
	res, err := st.ApplyParcels(alice.Public(), carryBatch(p0, sealPost(t, alice, ids[1], 1, 10, false, bob), sealPost(t, alice, ids[2], 1, 10, false, bob)), pol)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kept != 2 || len(res.Refused) != 1 || !errors.Is(res.Refused[0], store.ErrOverQuota) {
		t.Fatalf("kept %d, refused %v; want 2 kept and one refused over quota", res.Kept, res.Refused)
	}
	if u := usage(t, st, alice.Public()); u.Parcels != 2 || u.Bytes > pol.Quota {
		t.Fatalf("usage %+v over a quota of %d", u, pol.Quota)
	}
	tests := []struct {
		name      string
		p         sealedPost
		kept, ign int
	}{
		{"newer parcel of a held slot replaces it within the quota", sealPost(t, alice, ids[0], 2, 11, false, bob), 1, 0},
		{"older parcel of a held slot", sealPost(t, alice, ids[0], 1, 9, false, bob), 0, 1},
		{"same seq again", sealPost(t, alice, ids[0], 2, 11, false, bob), 0, 1},
	}
	for _, tc := range tests {
		res, err := st.ApplyParcels(alice.Public(), carryBatch(tc.p), pol)
		if err != nil || res.Kept != tc.kept || res.Ignored != tc.ign {
			t.Errorf("%s: kept %d ignored %d (%v), want %d %d", tc.name, res.Kept, res.Ignored, err, tc.kept, tc.ign)
		}
	}
	if _, err := st.ApplyParcels(stranger.Public(), carryBatch(sealPost(t, alice, ids[3], 1, 1, false, bob)), pol); !errors.Is(err, store.ErrNotFriend) {
		t.Errorf("parcels from a stranger: %v, want ErrNotFriend", err)
	}
	off := pol
	off.Off = true
	res, err = st.ApplyParcels(alice.Public(), carryBatch(sealPost(t, alice, ids[3], 1, 1, false, bob)), off)
	if err != nil || res.Kept != 0 || len(res.Refused) != 1 || !errors.Is(res.Refused[0], store.ErrCarryOff) {
		t.Errorf("carrying off: kept %d refused %v (%v)", res.Kept, res.Refused, err)
	}
	pg, err := st.ParcelsSince(0, 100, 1<<20)
	if err != nil || len(pg.Parcels) != 2 {
		t.Fatalf("parcel log: %d parcels (%v), want the 2 kept", len(pg.Parcels), err)
	}
}

// usageOf is what a parcel counts against a quota: its marshalled size.
func usageOf(t *testing.T, p sealedPost) uint64 {
	t.Helper()
	return uint64(proto.Size(p.env))
}

// Own parcels are never displaced by a friend's, counted against a quota, or expired.
func TestOwnParcelsStay(t *testing.T) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	alice, bob := key(t), key(t)
	st, me := home(t, c, alice)
	id, _ := post.NewID(nil)
	own := sealPost(t, me, id, 1, 5, false, bob)
	if err := st.PutOwnParcel(store.OwnParcelKey(id, nil), make([]byte, 32), own.env, own.parcel); err != nil {
		t.Fatal(err)
	}
	// A parcel of the same slot (only a holder of the slot key can make one) from a friend.
	newer := sealPost(t, me, id, 2, 6, false, bob)
	res, err := st.ApplyParcels(alice.Public(), carryBatch(newer), store.CarryPolicy{Quota: 1 << 20, Retention: time.Hour})
	if err != nil || res.Kept != 0 || res.Ignored != 1 {
		t.Errorf("a friend's parcel for an own slot: kept %d ignored %d (%v)", res.Kept, res.Ignored, err)
	}
	c.t = c.t.Add(1000 * time.Hour)
	if n, err := st.ExpireCarried(time.Hour); err != nil || n != 0 {
		t.Errorf("expiry dropped %d own parcels (%v)", n, err)
	}
	if u := usage(t, st, me.Public()); !u.Own || u.Parcels != 1 {
		t.Errorf("own usage %+v", u)
	}
}

// A carried parcel goes once every addressed reader acknowledged it, or after the
// retention; a wrong secret or an old seq acknowledges nothing.
func TestAcksAndRetention(t *testing.T) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	alice, bob, carol := key(t), key(t), key(t)
	st, _ := home(t, c, alice)
	id, _ := post.NewID(nil)
	p := sealPost(t, alice, id, 1, 3, false, bob, carol)
	pol := store.CarryPolicy{Quota: 1 << 20, Retention: 30 * 24 * time.Hour}
	if _, err := st.ApplyParcels(alice.Public(), carryBatch(p), pol); err != nil {
		t.Fatal(err)
	}
	ob, _ := carry.Open(p.env, bob)
	oc, _ := carry.Open(p.env, carol)
	steps := []struct {
		name             string
		seq              uint64
		secret           []byte
		matched, dropped bool
	}{
		{"a secret no reader has", 3, make([]byte, 32), false, false},
		{"bob's secret for an older seq", 2, ob.Ack, false, false},
		{"bob's secret", 3, ob.Ack, true, false},
		{"bob's secret again", 3, ob.Ack, false, false},
		{"carol's secret: every reader has it", 3, oc.Ack, true, true},
	}
	for _, s := range steps {
		m, d, err := st.AckParcel(p.parcel.GetSlot(), s.seq, s.secret)
		if err != nil || m != s.matched || d != s.dropped {
			t.Errorf("%s: matched %v dropped %v (%v), want %v %v", s.name, m, d, err, s.matched, s.dropped)
		}
	}
	if u := usage(t, st, alice.Public()); u.Parcels != 0 {
		t.Errorf("after every ack: %d parcels held", u.Parcels)
	}
	id2, _ := post.NewID(nil)
	if _, err := st.ApplyParcels(alice.Public(), carryBatch(sealPost(t, alice, id2, 1, 1, false, bob)), pol); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		after time.Duration
		want  int
	}{{29 * 24 * time.Hour, 0}, {31 * 24 * time.Hour, 1}} {
		c.t = time.Unix(1_800_000_000, 0).Add(tc.after)
		if n, err := st.ExpireCarried(pol.Retention); err != nil || n != tc.want {
			t.Errorf("after %v: expired %d (%v), want %d", tc.after, n, err, tc.want)
		}
	}
}

// A reader stores a carried post only from a friend author, only when newer than what it
// holds and than any carried revocation, and remembers the carrier.
func TestCarriedPostsApply(t *testing.T) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	alice, carol, mallory := key(t), key(t), key(t)
	st, me := home(t, c, alice, carol)
	id, _ := post.NewID(nil)
	pol := store.CarryPolicy{Quota: 1 << 20, Retention: time.Hour}
	apply := func(b store.ParcelBatch) store.CarryResult {
		t.Helper()
		res, err := st.ApplyParcels(carol.Public(), b, pol)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	post1 := func(author *identity.Key, v uint64) store.CarriedPost {
		p := sealPost(t, author, id, v, v, false, me)
		return store.CarriedPost{Author: author.Public(), Post: store.Verified{Envelope: p.post.Envelope, Payload: p.post.Payload}}
	}
	held := func() uint64 {
		p, err := st.Post(alice.Public(), id)
		if errors.Is(err, store.ErrNotFound) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return p.Payload.GetVersion()
	}
	steps := []struct {
		name string
		b    store.ParcelBatch
		want uint64
	}{
		{"version 2", store.ParcelBatch{Posts: []store.CarriedPost{post1(alice, 2)}}, 2},
		{"older version 1", store.ParcelBatch{Posts: []store.CarriedPost{post1(alice, 1)}}, 2},
		{"a stranger's post claiming alice", store.ParcelBatch{Posts: []store.CarriedPost{{Author: alice.Public(), Post: post1(mallory, 5).Post}}}, 2},
		{"revoked up to 3", store.ParcelBatch{Revocations: []store.CarriedRevocation{{Author: alice.Public(), ID: id, Version: 3}}}, 0},
		{"version 3 after its revocation", store.ParcelBatch{Posts: []store.CarriedPost{post1(alice, 3)}}, 0},
		{"version 4, newer than the revocation", store.ParcelBatch{Posts: []store.CarriedPost{post1(alice, 4)}}, 4},
		{"an older revocation", store.ParcelBatch{Revocations: []store.CarriedRevocation{{Author: alice.Public(), ID: id, Version: 2}}}, 4},
	}
	for _, s := range steps {
		apply(s.b)
		if got := held(); got != s.want {
			t.Errorf("%s: holds version %d, want %d", s.name, got, s.want)
		}
	}
	via, ok, err := st.CarriedVia(alice.Public(), id)
	if err != nil || !ok || via != carol.Public() {
		t.Errorf("carried via %s %v (%v), want carol", via.Short(), ok, err)
	}
	if res := apply(store.ParcelBatch{Posts: []store.CarriedPost{post1(mallory, 9)}}); res.Ignored != 1 {
		t.Errorf("a post by a non-friend: ignored %d, want 1", res.Ignored)
	}
}
