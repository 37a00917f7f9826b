package store

import (
	"slices"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/shared/identity"
)

// TestOwnAudienceChangeRevokes: an audience change made on another device (a new
// version for "me" only of a post bob could see) revokes the post in bob's view here
// too: this device keeps who could see the earlier versions, so it serves bob exactly
// the new audience and tells him to drop his copy.
func TestOwnAudienceChangeRevokes(t *testing.T) {
	s, me := initT(t)
	bob, carol := newKey(t).Public(), newKey(t).Public()
	must(t, s.PutFriend(Friend{Key: bob, Name: "bob"}))
	must(t, s.PutFriend(Friend{Key: carol, Name: "carol"}))
	id := publish(t, s, "for friends", feed.Audience{Friends: true})
	kinds := func(k [32]byte) []feed.Kind {
		t.Helper()
		pg, err := s.Changes(k, 0, 100)
		must(t, err)
		var out []feed.Kind
		for _, c := range pg.Changes {
			out = append(out, c.Kind)
		}
		return out
	}
	if got := kinds(bob); !slices.Equal(got, []feed.Kind{feed.Post}) {
		t.Fatalf("bob's view before: %v", got)
	}
	// The other device narrows the audience to carol: a new signed version.
	env, p, err := post.Seal(me, post.Draft{ID: id, Version: 2, Now: time.Now(), Text: "for friends"})
	must(t, err)
	devs := twoDevs(t)
	got, err := s.ApplyOwn(devs[0], OwnBatch{Posts: []OwnVerified{{Envelope: env, Payload: p, Audience: feed.Audience{People: []identity.ID{carol.ID()}}}}, Cursor: 1})
	if err != nil || got.Posts != 1 {
		t.Fatalf("ApplyOwn of the audience change: %+v, %v", got, err)
	}
	if got := kinds(bob); !slices.Equal(got, []feed.Kind{feed.Revoked}) {
		t.Fatalf("bob's view after the audience change on the other device: %v; want the post revoked", got)
	}
	if got := kinds(carol); !slices.Equal(got, []feed.Kind{feed.Post}) {
		t.Fatalf("carol's view: %v; want the post", got)
	}
}

// TestOwnSincePastTheEnd: a cursor past the end of the log (another device's home was
// rebuilt) is answered with that cursor and nothing more.
func TestOwnSincePastTheEnd(t *testing.T) {
	s, _ := initT(t)
	publish(t, s, "one", feed.Default())
	end, err := s.LastSeq()
	must(t, err)
	pg, err := s.OwnSince(end+5, 10)
	must(t, err)
	if pg.Last != end+5 || pg.More || len(pg.Posts) != 0 {
		t.Fatalf("OwnSince(end+5) = last %d, more %v, %d posts; want %d, false, none", pg.Last, pg.More, len(pg.Posts), end+5)
	}
}

// TestOwnDevicesBound: another device's list fills the device list up to MaxDevices
// and no further, also within one answer (Devices adds this home itself when the list
// lacks it).
func TestOwnDevicesBound(t *testing.T) {
	s, me := initT(t)
	var ds []Device
	for range MaxDevices + 3 {
		ds = append(ds, Device{Key: newKey(t).Public(), Name: "d"})
	}
	must2(t, s, newKey(t).Public(), OwnBatch{Devices: ds})
	got, err := s.Devices()
	must(t, err)
	kept := 0
	for _, d := range got {
		if d.Key != me.Public() {
			kept++
		}
	}
	if kept != MaxDevices {
		t.Fatalf("%d devices kept from the answer, want MaxDevices (%d)", kept, MaxDevices)
	}
}
