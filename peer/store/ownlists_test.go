package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/shared/identity"
)

// Tests of the versioned lists (liststamps.go, ownlists.go): each case is judged by
// its own table of writes and the state they must leave, in both arrival orders.

// listOp is one write another device serves: a friend (bob) or a group ("family").
type listOp struct {
	group   bool
	name    string // the friend's name (friends only)
	groups  []string
	ms      uint64
	dev     int // 0: the lower device key, 1: the higher
	removed bool
}

// twoDevs returns two device keys, the first the lower.
func twoDevs(t *testing.T) [2]identity.PublicKey {
	t.Helper()
	a, b := newKey(t).Public(), newKey(t).Public()
	if bytes.Compare(a[:], b[:]) > 0 {
		a, b = b, a
	}
	return [2]identity.PublicKey{a, b}
}

// applyOps applies ops one answer each to s, as from device from.
func applyOps(t *testing.T, s *Store, from identity.PublicKey, devs [2]identity.PublicKey, bob identity.PublicKey, ops []listOp) {
	t.Helper()
	for i, op := range ops {
		st := Stamp{MS: op.ms, Dev: devs[op.dev]}
		var l Lists
		if op.group {
			l.Groups = []GroupEntry{{Name: "family", Stamp: st, Removed: op.removed}}
		} else {
			f := FriendEntry{Stamp: st, Removed: op.removed}
			f.Key = bob
			if !op.removed {
				f.Name, f.Groups = op.name, op.groups
			}
			l.Friends = []FriendEntry{f}
		}
		if _, err := s.ApplyOwn(from, OwnBatch{Lists: l, Cursor: uint64(i)}); err != nil {
			t.Fatalf("apply %+v: %v", op, err)
		}
	}
}

// state says what s holds of bob and the group: bob's name ("" when not a friend) and
// whether the group exists.
func state(t *testing.T, s *Store, bob identity.PublicKey) (string, bool) {
	t.Helper()
	name := ""
	if f, err := s.Friend(bob); err == nil {
		name = "friend:" + f.Name
	} else if !errors.Is(err, ErrNotFriend) {
		t.Fatal(err)
	}
	gs, err := s.Groups()
	must(t, err)
	return name, slices.Contains(gs, "family")
}

// TestListWritesConverge: the latest write per entry wins whatever order the writes
// arrive in: a removal beats an older add, a re-add beats an older removal, equal
// times go to the larger device key, and a group a friend is still in lives on.
func TestListWritesConverge(t *testing.T) {
	add := func(ms uint64, dev int, name string) listOp { return listOp{name: name, ms: ms, dev: dev} }
	rm := func(ms uint64, dev int) listOp { return listOp{ms: ms, dev: dev, removed: true} }
	for _, tc := range []struct {
		name      string
		ops       []listOp
		wantBob   string
		wantGroup bool
	}{
		{"a removal beats an older add", []listOp{add(10, 0, "bob"), rm(20, 1)}, "", false},
		{"a re-add beats an older removal", []listOp{rm(20, 0), add(30, 1, "bob again")}, "friend:bob again", false},
		{"the later of two renames", []listOp{add(10, 1, "old"), add(11, 0, "new")}, "friend:new", false},
		{"equal times: the larger device key's removal", []listOp{add(20, 0, "bob"), rm(20, 1)}, "", false},
		{"equal times: the larger device key's add", []listOp{rm(20, 0), add(20, 1, "bob")}, "friend:bob", false},
		{"add, remove, re-add", []listOp{add(10, 0, "a"), rm(20, 1), add(30, 0, "c")}, "friend:c", false},
		{"a group removal beats an older group add",
			[]listOp{{group: true, ms: 10}, {group: true, ms: 20, dev: 1, removed: true}}, "", false},
		{"a group re-added after its removal",
			[]listOp{{group: true, ms: 20, removed: true}, {group: true, ms: 30, dev: 1}}, "", true},
		{"a removed group lives on while a later write keeps a friend in it",
			[]listOp{{group: true, ms: 10}, {group: true, ms: 20, removed: true}, {name: "bob", groups: []string{"family"}, ms: 30, dev: 1}},
			"friend:bob", true},
		{"a removed group goes once its last friend leaves it",
			[]listOp{{name: "bob", groups: []string{"family"}, ms: 10}, {group: true, ms: 20, removed: true}, {name: "bob", ms: 30, dev: 1}},
			"friend:bob", false},
	} {
		for _, order := range []string{"forward", "backward"} {
			t.Run(tc.name+"/"+order, func(t *testing.T) {
				s, _ := initT(t)
				devs, bob := twoDevs(t), newKey(t).Public()
				ops := slices.Clone(tc.ops)
				if order == "backward" {
					slices.Reverse(ops)
				}
				applyOps(t, s, devs[0], devs, bob, ops)
				if name, group := state(t, s, bob); name != tc.wantBob || group != tc.wantGroup {
					t.Fatalf("bob %q, group %v; want %q, %v", name, group, tc.wantBob, tc.wantGroup)
				}
			})
		}
	}
}

// TestRemoteRemovalIsALocalRemoval: a removal taken from another device has the
// effects of `kith friend rm` here: the friend is a stranger, its cursor is gone, the
// reachability key rotates, the kit revision moves, and a friends-only post it saw is
// revoked in its view; a stale device's older copy does not bring it back.
func TestRemoteRemovalIsALocalRemoval(t *testing.T) {
	type effects struct {
		friend, cursor, reachSame, kitSame bool
		kinds                              []feed.Kind
	}
	observe := func(t *testing.T, remove func(s *Store, bob identity.PublicKey)) effects {
		t.Helper()
		s, _ := initT(t)
		bob := newKey(t).Public()
		must(t, s.PutFriend(Friend{Key: bob, Name: "bob"}))
		publish(t, s, "for friends", feed.Audience{Friends: true})
		must(t, s.SetFriendReachKey(bob, bytes.Repeat([]byte{7}, reachKeyLen)))
		if _, err := s.Apply(bob, Batch{Cursor: 9}); err != nil {
			t.Fatal(err)
		}
		reach, err := s.ReachKey()
		must(t, err)
		kit, err := s.KitRevision()
		must(t, err)
		time.Sleep(2 * time.Millisecond) // the kit revision is in ms
		remove(s, bob)
		var e effects
		_, err = s.Friend(bob)
		e.friend = err == nil
		cur, err := s.Cursor(bob)
		must(t, err)
		e.cursor = cur != 0
		r2, err := s.ReachKey()
		must(t, err)
		e.reachSame = bytes.Equal(reach, r2)
		k2, err := s.KitRevision()
		must(t, err)
		e.kitSame = k2.Equal(kit)
		pg, err := s.Changes(bob, 0, 100)
		must(t, err)
		for _, c := range pg.Changes {
			e.kinds = append(e.kinds, c.Kind)
		}
		return e
	}
	local := observe(t, func(s *Store, bob identity.PublicKey) { must(t, s.RemoveFriend(bob)) })
	devs := twoDevs(t)
	remote := observe(t, func(s *Store, bob identity.PublicKey) {
		ms := uint64(time.Now().Add(time.Minute).UnixMilli())
		got, err := s.ApplyOwn(devs[0], OwnBatch{Lists: Lists{Friends: []FriendEntry{{Friend: Friend{Key: bob}, Stamp: Stamp{MS: ms, Dev: devs[0]}, Removed: true}}}})
		if err != nil || got.Removed != 1 {
			t.Fatalf("ApplyOwn of a removal: %+v, %v; want one friend removed", got, err)
		}
		// The stale device's copy (stamped before the removal) changes nothing.
		got, err = s.ApplyOwn(devs[1], OwnBatch{Lists: Lists{Friends: []FriendEntry{{Friend: Friend{Key: bob, Name: "bob"}, Stamp: Stamp{MS: ms - 1, Dev: devs[1]}}}}})
		if err != nil || got.Removed != 0 {
			t.Fatalf("ApplyOwn of a stale copy: %+v, %v", got, err)
		}
	})
	want := effects{kinds: []feed.Kind{feed.Revoked}}
	for name, got := range map[string]effects{"local": local, "remote": remote} {
		if got.friend != want.friend || got.cursor != want.cursor || got.reachSame != want.reachSame || got.kitSame != want.kitSame || !slices.Equal(got.kinds, want.kinds) {
			t.Errorf("%s removal: %+v; want %+v", name, got, want)
		}
	}
}

// TestListsBetweenDevices: two stores of one person exchange their lists through
// OwnSince and ApplyOwn: a removal, a group removal and a regrouping made on one reach
// the other, and the other's stale lists served back change nothing.
func TestListsBetweenDevices(t *testing.T) {
	first, laptop, _, dev := joinT(t)
	bob, carol := newKey(t).Public(), newKey(t).Public()
	must(t, first.PutFriend(Friend{Key: bob, Name: "bob", Groups: []string{"family"}}))
	must(t, first.PutFriend(Friend{Key: carol, Name: "carol", Groups: []string{"family", "work"}}))
	self, _ := first.Self()
	pull := func(to, from *Store, fromKey identity.PublicKey) OwnApplied {
		t.Helper()
		pg, err := from.OwnSince(0, 100)
		must(t, err)
		cur, err := to.Cursor(fromKey)
		must(t, err)
		got, err := to.ApplyOwn(fromKey, OwnBatch{Lists: pg.Lists, Devices: pg.Devices, Cursor: max(pg.Last, cur)})
		must(t, err)
		return got
	}
	pull(laptop, first, self)
	if f, err := laptop.Friend(bob); err != nil || f.Name != "bob" {
		t.Fatalf("bob on the laptop: %+v, %v", f, err)
	}
	stale, err := laptop.OwnSince(0, 100) // the laptop's lists before it learns anything more
	must(t, err)

	must(t, first.RemoveFriend(bob))
	must(t, first.RemoveGroup("work"))
	if f, _ := first.Friend(carol); !slices.Equal(f.Groups, []string{"family"}) {
		t.Fatalf("carol on first after removing work: %v", f.Groups)
	}
	// The stale lists come back first: first keeps its removals.
	if _, err := first.ApplyOwn(dev.Public(), OwnBatch{Lists: stale.Lists, Cursor: stale.Last}); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Friend(bob); !errors.Is(err, ErrNotFriend) {
		t.Fatalf("the stale device brought bob back on first: %v", err)
	}
	if gs, _ := first.Groups(); slices.Contains(gs, "work") {
		t.Fatalf("the stale device brought the group work back: %v", gs)
	}
	if got := pull(laptop, first, self); got.Removed != 1 {
		t.Fatalf("the laptop's pull removed %d friends, want bob", got.Removed)
	}
	if _, err := laptop.Friend(bob); !errors.Is(err, ErrNotFriend) {
		t.Fatalf("bob on the laptop after the pull: %v", err)
	}
	if gs, _ := laptop.Groups(); slices.Contains(gs, "work") || !slices.Contains(gs, "family") {
		t.Fatalf("the laptop's groups: %v; want family and no work", gs)
	}
	if f, _ := laptop.Friend(carol); !slices.Equal(f.Groups, []string{"family"}) {
		t.Fatalf("carol on the laptop: %v", f.Groups)
	}
	// The laptop takes carol out of family and renames her; first takes both.
	must(t, laptop.PutFriend(Friend{Key: carol, Name: "caro"}))
	pull(first, laptop, dev.Public())
	if f, _ := first.Friend(carol); f.Name != "caro" || len(f.Groups) != 0 {
		t.Fatalf("carol on first: %+v; want caro in no group", f)
	}
	// Both agree now: another round changes nothing either way.
	for _, p := range []func() OwnApplied{func() OwnApplied { return pull(first, laptop, dev.Public()) }, func() OwnApplied { return pull(laptop, first, self) }} {
		if got := p(); got.Removed != 0 {
			t.Fatalf("a second round removed %d", got.Removed)
		}
	}
	a, _ := first.OwnSince(0, 100)
	b, _ := laptop.OwnSince(0, 100)
	if fmt.Sprint(sortedLists(a.Lists)) != fmt.Sprint(sortedLists(b.Lists)) {
		t.Fatalf("the devices disagree:\n first  %v\n laptop %v", sortedLists(a.Lists), sortedLists(b.Lists))
	}
}

func sortedLists(l Lists) []string {
	var out []string
	for _, f := range l.Friends {
		out = append(out, fmt.Sprintf("f %s %q %v %d %v", f.Key.Short(), f.Name, f.Groups, f.Stamp.MS, f.Removed))
	}
	for _, g := range l.Groups {
		out = append(out, fmt.Sprintf("g %s %d %v", g.Name, g.Stamp.MS, g.Removed))
	}
	slices.Sort(out)
	return out
}

// TestLocalWriteBeatsWhatItSaw: a write made here after taking another device's write
// stamped ahead of this clock still wins (the stamp is past every stamp seen).
func TestLocalWriteBeatsWhatItSaw(t *testing.T) {
	s, _ := initT(t)
	devs, bob := twoDevs(t), newKey(t).Public()
	ahead := uint64(time.Now().Add(time.Hour).UnixMilli())
	applyOps(t, s, devs[0], devs, bob, []listOp{{name: "bob", ms: ahead, dev: 1}})
	must(t, s.RemoveFriend(bob))
	pg, err := s.OwnSince(0, 10)
	must(t, err)
	if len(pg.Lists.Friends) != 1 || !pg.Lists.Friends[0].Removed || pg.Lists.Friends[0].Stamp.MS != ahead+1 {
		t.Fatalf("lists after the local removal: %v; want bob removed at %d", sortedLists(pg.Lists), ahead+1)
	}
	// The device that wrote ahead serves its add again: the removal stands.
	applyOps(t, s, devs[0], devs, bob, []listOp{{name: "bob", ms: ahead, dev: 1}})
	if name, _ := state(t, s, bob); name != "" {
		t.Fatalf("bob came back: %q", name)
	}
}

// TestTombstoneBound: at most MaxTombstones removals are kept, the oldest go first, and
// below the horizon (the newest pruned) an entry this device does not hold is not taken,
// while a later one is; a device learns another's horizon.
func TestTombstoneBound(t *testing.T) {
	s, _ := initT(t)
	devs := twoDevs(t)
	const extra = 5
	var l Lists
	keys := make([]identity.PublicKey, MaxTombstones+extra)
	for i := range keys {
		keys[i] = newKey(t).Public()
		l.Friends = append(l.Friends, FriendEntry{Friend: Friend{Key: keys[i]}, Stamp: Stamp{MS: uint64(1000 + i), Dev: devs[0]}, Removed: true})
	}
	if _, err := s.ApplyOwn(devs[0], OwnBatch{Lists: l}); err != nil {
		t.Fatal(err)
	}
	pg, err := s.OwnSince(0, 10)
	must(t, err)
	if n := len(pg.Lists.Friends); n != MaxTombstones {
		t.Fatalf("%d tombstones kept, want %d", n, MaxTombstones)
	}
	if h := pg.Lists.Horizon; h.MS != 1000+extra-1 || h.Dev != devs[0] {
		t.Fatalf("horizon %+v, want the newest pruned (%d)", h, 1000+extra-1)
	}
	for _, f := range pg.Lists.Friends {
		if f.Stamp.MS < 1000+extra {
			t.Fatalf("an old tombstone (%d) was kept over a newer one", f.Stamp.MS)
		}
	}
	for _, tc := range []struct {
		name  string
		key   identity.PublicKey
		ms    uint64
		dev   int
		taken bool
	}{
		{"a pruned friend's older add", keys[0], 999, 1, false},
		{"an unknown friend at the horizon", newKey(t).Public(), 1000 + extra - 1, 0, false},
		{"an unknown friend at the horizon's time, larger device key", newKey(t).Public(), 1000 + extra - 1, 1, true},
		{"an unknown friend below the horizon", newKey(t).Public(), 1000, 1, false},
		{"an unknown friend past the horizon", newKey(t).Public(), 5000, 1, true},
		{"a kept tombstone's later re-add", keys[MaxTombstones+extra-1], 5000, 1, true},
		{"a kept tombstone's older add", keys[extra], 1000, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := FriendEntry{Friend: Friend{Key: tc.key, Name: "x"}, Stamp: Stamp{MS: tc.ms, Dev: devs[tc.dev]}}
			if _, err := s.ApplyOwn(devs[0], OwnBatch{Lists: Lists{Friends: []FriendEntry{f}}}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Friend(tc.key); (err == nil) != tc.taken {
				t.Fatalf("taken: %v, want %v", err == nil, tc.taken)
			}
		})
	}
	// Another device learns the horizon with the lists and judges by it.
	other, _ := initT(t)
	if _, err := other.ApplyOwn(devs[0], OwnBatch{Lists: Lists{Horizon: pg.Lists.Horizon}}); err != nil {
		t.Fatal(err)
	}
	k := newKey(t).Public()
	if _, err := other.ApplyOwn(devs[0], OwnBatch{Lists: Lists{Friends: []FriendEntry{{Friend: Friend{Key: k}, Stamp: Stamp{MS: 1001, Dev: devs[1]}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Friend(k); err == nil {
		t.Fatalf("an add below the learned horizon was taken")
	}
	// Local removals are bounded the same way.
	must(t, s.PutFriend(Friend{Key: k, Name: "k"}))
	must(t, s.RemoveFriend(k))
	pg, _ = s.OwnSince(0, 10)
	tombs := 0
	for _, f := range pg.Lists.Friends {
		if f.Removed {
			tombs++
		}
	}
	if tombs != MaxTombstones {
		t.Fatalf("%d tombstones after a local removal, want %d", tombs, MaxTombstones)
	}
}

// TestUnstampedEntries: an entry written before stamps existed (stamp zero) fills a gap
// only, never replaces what a device holds, and loses to any stamped write.
func TestUnstampedEntries(t *testing.T) {
	devs := twoDevs(t)
	bob := newKey(t).Public()
	zero := FriendEntry{Friend: Friend{Key: bob, Name: "unstamped"}}
	s, _ := initT(t)
	if _, err := s.ApplyOwn(devs[0], OwnBatch{Lists: Lists{Friends: []FriendEntry{zero}, Groups: []GroupEntry{{Name: "old"}}}}); err != nil {
		t.Fatal(err)
	}
	if name, _ := state(t, s, bob); name != "friend:unstamped" {
		t.Fatalf("an unstamped friend did not fill the gap: %q", name)
	}
	if gs, _ := s.Groups(); !slices.Contains(gs, "old") {
		t.Fatalf("an unstamped group did not fill the gap: %v", gs)
	}
	other := zero
	other.Name = "other"
	if _, err := s.ApplyOwn(devs[0], OwnBatch{Lists: Lists{Friends: []FriendEntry{other}}}); err != nil {
		t.Fatal(err)
	}
	if name, _ := state(t, s, bob); name != "friend:unstamped" {
		t.Fatalf("an unstamped entry replaced a held one: %q", name)
	}
	applyOps(t, s, devs[0], devs, bob, []listOp{{ms: 1, removed: true}})
	if name, _ := state(t, s, bob); name != "" {
		t.Fatalf("a stamped removal lost to an unstamped entry: %q", name)
	}
	if _, err := s.ApplyOwn(devs[0], OwnBatch{Lists: Lists{Friends: []FriendEntry{zero}}}); err != nil {
		t.Fatal(err)
	}
	if name, _ := state(t, s, bob); name != "" {
		t.Fatalf("an unstamped entry undid a stamped removal: %q", name)
	}
	// The serving device's horizon is taken after the entries of its own answer (it
	// holds them: they are alive)...
	h, _ := initT(t)
	must2(t, h, devs[0], OwnBatch{Lists: Lists{Friends: []FriendEntry{zero}, Horizon: Stamp{MS: 5, Dev: devs[0]}}})
	if _, err := h.Friend(bob); err != nil {
		t.Fatalf("an entry the serving device holds beside its horizon was not taken: %v", err)
	}
	// ...and past a horizon an unstamped entry fills no gap (it may be a pruned removal's).
	h2, _ := initT(t)
	must2(t, h2, devs[0], OwnBatch{Lists: Lists{Horizon: Stamp{MS: 5, Dev: devs[0]}}})
	must2(t, h2, devs[0], OwnBatch{Lists: Lists{Friends: []FriendEntry{zero}}})
	if _, err := h2.Friend(bob); err == nil {
		t.Fatalf("an unstamped entry filled a gap below a horizon")
	}
}

// TestRemoveGroup: removing a group takes every friend out of it and keeps a
// tombstone; an unknown group is an error that changes nothing.
func TestRemoveGroup(t *testing.T) {
	s, _ := initT(t)
	bob, carol := newKey(t).Public(), newKey(t).Public()
	must(t, s.PutFriend(Friend{Key: bob, Name: "bob", Groups: []string{"family", "work"}}))
	must(t, s.PutFriend(Friend{Key: carol, Name: "carol", Groups: []string{"work"}}))
	must(t, s.AddGroup("empty"))
	if err := s.RemoveGroup("nosuch"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RemoveGroup(nosuch) = %v, want ErrNotFound", err)
	}
	for _, g := range []string{"work", "empty"} {
		must(t, s.RemoveGroup(g))
	}
	if gs, _ := s.Groups(); !slices.Equal(gs, []string{"family"}) {
		t.Fatalf("groups %v, want family", gs)
	}
	for k, want := range map[identity.PublicKey][]string{bob: {"family"}, carol: nil} {
		if f, _ := s.Friend(k); !slices.Equal(f.Groups, want) {
			t.Errorf("%s in %v, want %v", f.Name, f.Groups, want)
		}
	}
	pg, err := s.OwnSince(0, 10)
	must(t, err)
	got := strings.Join(sortedLists(pg.Lists), "\n")
	for _, g := range []string{"work", "empty"} {
		if !strings.Contains(got, "g "+g+" ") {
			t.Fatalf("no tombstone for %s in\n%s", g, got)
		}
	}
	for _, e := range pg.Lists.Groups {
		if e.Removed != (e.Name != "family") || e.Stamp.IsZero() {
			t.Errorf("group entry %+v", e)
		}
	}
	// A friend added to a removed group locally brings it back, stamped as present.
	must(t, s.PutFriend(Friend{Key: carol, Name: "carol", Groups: []string{"work"}}))
	pg, _ = s.OwnSince(0, 10)
	for _, e := range pg.Lists.Groups {
		if e.Name == "work" && e.Removed {
			t.Fatalf("work is still a tombstone after carol joined it again")
		}
	}
	// And a friend leaving a group removed elsewhere (whose tombstone is held) ends it.
	devs := twoDevs(t)
	ahead := uint64(time.Now().Add(time.Hour).UnixMilli())
	must2(t, s, devs[0], OwnBatch{Lists: Lists{Groups: []GroupEntry{{Name: "family", Stamp: Stamp{MS: ahead, Dev: devs[0]}, Removed: true}}}})
	if gs, _ := s.Groups(); !slices.Contains(gs, "family") {
		t.Fatalf("family went while bob is in it: %v", gs)
	}
	// Adding the group here again makes it a present write: it stays with no one in it.
	must(t, s.AddGroup("family"))
	must(t, s.AddGroup("family")) // a second time changes nothing
	must(t, s.PutFriend(Friend{Key: bob, Name: "bob"}))
	if gs, _ := s.Groups(); !slices.Contains(gs, "family") {
		t.Fatalf("family, added again here, went when bob left it: %v", gs)
	}
	must2(t, s, devs[0], OwnBatch{Lists: Lists{Groups: []GroupEntry{{Name: "family", Stamp: Stamp{MS: ahead + 10, Dev: devs[0]}, Removed: true}}}})
	if gs, _ := s.Groups(); slices.Contains(gs, "family") {
		t.Fatalf("family stayed after a later removal with no friend in it: %v", gs)
	}
	// work, removed elsewhere while carol is in it, goes when carol leaves it here.
	must2(t, s, devs[0], OwnBatch{Lists: Lists{Groups: []GroupEntry{{Name: "work", Stamp: Stamp{MS: ahead + 20, Dev: devs[0]}, Removed: true}}}})
	if gs, _ := s.Groups(); !slices.Contains(gs, "work") {
		t.Fatalf("work went while carol is in it: %v", gs)
	}
	must(t, s.PutFriend(Friend{Key: carol, Name: "carol"}))
	if gs, _ := s.Groups(); slices.Contains(gs, "work") {
		t.Fatalf("work stayed after its last friend left: %v", gs)
	}
}

// TestParseListsRefuses: malformed lists from another device are refused whole with
// ErrBadLists; a good one parses.
func TestParseListsRefuses(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	k := newKey(t).Public()
	key, dev := b64(k[:]), b64(newKey(t).Public().Bytes())
	st := func(ms int64) string { return fmt.Sprintf(`{"ms":%d,"dev":"%s"}`, ms, dev) }
	good := `{"friends":[{"key":"` + key + `","name":"bob","groups":["family"],"stamp":` + st(now.UnixMilli()) + `}],"groups":[{"name":"family","stamp":` + st(1) + `},{"name":"gone","stamp":` + st(2) + `,"removed":true}],"horizon":{}}`
	l, err := ParseLists(ListsVersion, []byte(good), now)
	if err != nil || len(l.Friends) != 1 || len(l.Groups) != 2 || !l.Groups[1].Removed || l.Friends[0].Stamp.MS != uint64(now.UnixMilli()) {
		t.Fatalf("a good list: %+v, %v", l, err)
	}
	many := `{"friends":[` + strings.Repeat(`{"key":"`+key+`"},`, MaxListEntries) + `{"key":"` + key + `"}]}`
	for _, tc := range []struct {
		name    string
		version uint32
		raw     string
	}{
		{"version 1", 1, good},
		{"version 3", 3, good},
		{"not JSON", ListsVersion, `{`},
		{"a v1 friend list", ListsVersion, `[{"key":"` + key + `"}]`},
		{"an unknown field", ListsVersion, `{"friends":[],"extra":1}`},
		{"a short key", ListsVersion, `{"friends":[{"key":"AAE="}]}`},
		{"a bad address", ListsVersion, `{"friends":[{"key":"` + key + `","addr":"nowhere"}]}`},
		{"a bad group of a friend", ListsVersion, `{"friends":[{"key":"` + key + `","groups":["a b"]}]}`},
		{"a bad group name", ListsVersion, `{"groups":[{"name":"a,b"}]}`},
		{"a removed friend without a stamp", ListsVersion, `{"friends":[{"key":"` + key + `","removed":true}]}`},
		{"a removed group without a stamp", ListsVersion, `{"groups":[{"name":"g","removed":true}]}`},
		{"a stamp without a device", ListsVersion, `{"groups":[{"name":"g","stamp":{"ms":5}}]}`},
		{"a stamp with a short device", ListsVersion, `{"groups":[{"name":"g","stamp":{"ms":5,"dev":"AAE="}}]}`},
		{"a device without a time", ListsVersion, `{"groups":[{"name":"g","stamp":{"dev":"` + dev + `"}}]}`},
		{"a stamp more than a day ahead", ListsVersion, `{"groups":[{"name":"g","stamp":` + st(now.Add(24*time.Hour+time.Millisecond).UnixMilli()) + `}]}`},
		{"a horizon ahead", ListsVersion, `{"horizon":` + st(now.Add(48*time.Hour).UnixMilli()) + `}`},
		{"a friend twice", ListsVersion, `{"friends":[{"key":"` + key + `"},{"key":"` + key + `","removed":true,"stamp":` + st(3) + `}]}`},
		{"a group twice", ListsVersion, `{"groups":[{"name":"g"},{"name":"g"}]}`},
		{"too many entries", ListsVersion, many},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if l, err := ParseLists(tc.version, []byte(tc.raw), now); !errors.Is(err, ErrBadLists) {
				t.Fatalf("ParseLists = %+v, %v; want ErrBadLists", l, err)
			}
		})
	}
	// A day ahead exactly is still taken; a removed friend's other fields are dropped.
	edge := `{"friends":[{"key":"` + key + `","name":"x","removed":true,"stamp":` + st(now.Add(24*time.Hour).UnixMilli()) + `}]}`
	if l, err := ParseLists(ListsVersion, []byte(edge), now); err != nil || l.Friends[0].Name != "" || !l.Friends[0].Removed {
		t.Fatalf("a removal a day ahead: %+v, %v", l, err)
	}
	// And what MarshalLists writes parses back the same.
	in := Lists{Friends: []FriendEntry{{Friend: Friend{Key: k, Name: "bob", Addr: "127.0.0.1:1"}, Stamp: Stamp{MS: 7, Dev: k}}, {Friend: Friend{Key: k, Name: "dropped"}, Removed: true, Stamp: Stamp{MS: 8, Dev: k}}},
		Groups: []GroupEntry{{Name: "g", Removed: true, Stamp: Stamp{MS: 9, Dev: k}}}, Horizon: Stamp{MS: 3, Dev: k}}
	raw, err := MarshalLists(in)
	must(t, err)
	in.Friends = in.Friends[:1] // the same key twice is refused on the way back
	raw1, _ := MarshalLists(in)
	back, err := ParseLists(ListsVersion, raw1, now)
	if err != nil || fmt.Sprint(sortedLists(back)) != fmt.Sprint(sortedLists(in)) || back.Horizon != in.Horizon {
		t.Fatalf("round trip: %v, %v; want %v", sortedLists(back), err, sortedLists(in))
	}
	if _, err := ParseLists(ListsVersion, raw, now); !errors.Is(err, ErrBadLists) {
		t.Fatalf("the same friend twice: %v", err)
	}
	if bytes.Contains(raw, []byte("dropped")) {
		t.Fatalf("a removal carries the friend's name: %s", raw)
	}
}

// TestListsEdges: an entry naming the person itself is never taken as a friend; a list
// of exactly MaxListEntries entries of each kind parses, one more group is refused.
func TestListsEdges(t *testing.T) {
	s, me := initT(t)
	devs := twoDevs(t)
	must2(t, s, devs[0], OwnBatch{Lists: Lists{Friends: []FriendEntry{{Friend: Friend{Key: me.Public(), Name: "me"}, Stamp: Stamp{MS: 5, Dev: devs[0]}}}}})
	if fs, _ := s.Friends(); len(fs) != 0 {
		t.Fatalf("the person's own key became a friend: %+v", fs)
	}
	now := time.Now()
	dev := b64(devs[0][:])
	var fs, gs []string
	for i := 0; i <= MaxListEntries; i++ {
		k := newKey(t).Public()
		fs = append(fs, `{"key":"`+b64(k[:])+`","stamp":{"ms":1,"dev":"`+dev+`"}}`)
		gs = append(gs, fmt.Sprintf(`{"name":"g%d"}`, i))
	}
	full := `{"friends":[` + strings.Join(fs[:MaxListEntries], ",") + `],"groups":[` + strings.Join(gs[:MaxListEntries], ",") + `]}`
	if l, err := ParseLists(ListsVersion, []byte(full), now); err != nil || len(l.Friends) != MaxListEntries || len(l.Groups) != MaxListEntries {
		t.Fatalf("exactly MaxListEntries of each: %d friends, %d groups, %v", len(l.Friends), len(l.Groups), err)
	}
	over := `{"groups":[` + strings.Join(gs, ",") + `]}`
	if _, err := ParseLists(ListsVersion, []byte(over), now); !errors.Is(err, ErrBadLists) {
		t.Fatalf("MaxListEntries+1 groups: %v, want ErrBadLists", err)
	}
}
