package store

import (
	"slices"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/shared/identity"
)

// ApplyOwn merges every entry of another device's lists, not only the first: all new
// friends, every changed field of a held friend, all new devices and every revoked mark;
// an answer with the cursor already applied still merges; a list of MaxDevices devices
// parses.
func TestApplyOwnMergesEveryEntry(t *testing.T) {
	s, _ := initT(t)
	dev := newKey(t).Public()
	bob, carol, dan, erin := newKey(t).Public(), newKey(t).Public(), newKey(t).Public(), newKey(t).Public()
	d1, d2 := newKey(t).Public(), newKey(t).Public()
	must(t, s.AddGroup("family"))
	must(t, s.AddGroup("work"))
	must(t, s.PutFriend(Friend{Key: carol, Name: "carol", Groups: []string{"family"}}))
	must(t, s.PutFriend(Friend{Key: dan, Name: "dan", Groups: []string{"family"}}))
	must(t, s.PutFriend(Friend{Key: erin, Name: "erin", Addr: "127.0.0.1:1", Groups: []string{"family"}}))
	if _, err := s.ApplyOwn(dev, OwnBatch{Cursor: 5}); err != nil {
		t.Fatal(err)
	}
	later := Stamp{MS: uint64(time.Now().Add(time.Hour).UnixMilli()), Dev: dev}
	want := []Friend{
		{Key: bob, Name: "bob", Groups: []string{"family"}},
		{Key: carol, Name: "carol", Groups: []string{"family", "work"}},            // one more group
		{Key: dan, Name: "dan", Groups: []string{"work"}},                          // another group
		{Key: erin, Name: "erin", Addr: "127.0.0.1:2", Groups: []string{"family"}}, // new address
	}
	b := OwnBatch{
		Cursor:  5, // the cursor held already: still merged
		Devices: []Device{{Key: d1, Name: "one"}, {Key: d2, Name: "two"}},
	}
	for _, f := range want {
		b.Lists.Friends = append(b.Lists.Friends, FriendEntry{Friend: f, Stamp: later})
	}
	if _, err := s.ApplyOwn(dev, b); err != nil {
		t.Fatal(err)
	}
	check := func(k Friend) {
		t.Helper()
		f, err := s.Friend(k.Key)
		if err != nil || f.Name != k.Name || f.Addr != k.Addr || !slices.Equal(f.Groups, k.Groups) {
			t.Errorf("friend %s = %+v, %v; want %+v", k.Name, f, err, k)
		}
	}
	for _, f := range want {
		check(f)
	}
	// A rename alone is taken too.
	later.MS++
	must2(t, s, dev, OwnBatch{Cursor: 6, Lists: Lists{Friends: []FriendEntry{{Friend: Friend{Key: bob, Name: "robert", Groups: []string{"family"}}, Stamp: later}}}})
	check(Friend{Key: bob, Name: "robert", Groups: []string{"family"}})

	revoked := func() map[string]bool {
		t.Helper()
		ds, err := s.Devices()
		must(t, err)
		m := map[string]bool{}
		for _, d := range ds {
			m[d.Name] = d.Revoked
		}
		return m
	}
	if got := revoked(); len(got) != 3 || got["one"] || got["two"] {
		t.Fatalf("devices after the merge: %v, want first, one and two, none revoked", got)
	}
	must2(t, s, dev, OwnBatch{Cursor: 7, Devices: []Device{{Key: d1, Name: "one", Revoked: true}, {Key: d2, Name: "two", Revoked: true}}})
	if got := revoked(); !got["one"] || !got["two"] {
		t.Fatalf("devices after two revoked marks: %v, want both revoked", got)
	}

	many := make([]Device, MaxDevices)
	for i := range many {
		many[i] = Device{Key: newKey(t).Public(), Name: "d"}
	}
	raw, err := MarshalDevices(many)
	must(t, err)
	if ds, err := ParseDevices(raw); err != nil || len(ds) != MaxDevices {
		t.Fatalf("a list of MaxDevices devices: %d, %v", len(ds), err)
	}
}

func must2(t *testing.T, s *Store, dev identity.PublicKey, b OwnBatch) {
	t.Helper()
	if _, err := s.ApplyOwn(dev, b); err != nil {
		t.Fatal(err)
	}
}

// OwnSince's Last is where the global log ends once a page holds all of it.
func TestOwnSinceLastIsTheLogEnd(t *testing.T) {
	s, _ := initT(t)
	for i := 0; i < 3; i++ {
		publish(t, s, "post", feed.Audience{Public: true})
	}
	bob := newKey(t).Public()
	must(t, s.PutFriend(Friend{Key: bob, Name: "bob"}))
	publish(t, s, "for friends", feed.Audience{Friends: true})
	must(t, s.RemoveFriend(bob))
	want, err := s.LastSeq()
	must(t, err)
	pg, err := s.OwnSince(0, 100)
	must(t, err)
	if pg.Last != want || pg.More {
		t.Fatalf("OwnSince(0) last %d more %v; want %d, false", pg.Last, pg.More, want)
	}
}
