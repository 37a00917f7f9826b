package feed

import (
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kithnet/kith/shared/identity"
)

func key(t *testing.T) identity.PublicKey {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.Public()
}

// The viewers every audience is judged against: each row of the table below says, for
// each of them, whether they may see. "fam" is a friend in a *different* group than the
// post's, "strGrp" a stranger who claims a group (group membership is the author's
// metadata about friends, so a stranger's Groups must never count).
type cast struct {
	me, in, fam, both, out, str, strGrp Viewer
}

func newCast(t *testing.T) cast {
	t.Helper()
	return cast{
		me:     Viewer{Key: key(t), Self: true},
		in:     Viewer{Key: key(t), Friend: true, Groups: []string{"close"}},
		fam:    Viewer{Key: key(t), Friend: true, Groups: []string{"family"}},
		both:   Viewer{Key: key(t), Friend: true, Groups: []string{"family", "close"}},
		out:    Viewer{Key: key(t), Friend: true},
		str:    Stranger(key(t)),
		strGrp: Viewer{Key: key(t), Groups: []string{"close"}},
	}
}

func TestVisible(t *testing.T) {
	c := newCast(t)
	tests := []struct {
		name                                string
		a                                   Audience
		me, in, fam, both, out, str, strGrp bool
	}{
		{"nobody but me", Audience{}, true, false, false, false, false, false, false},
		{"me", Audience{Me: true}, true, false, false, false, false, false, false},
		{"friends", Audience{Friends: true}, true, true, true, true, true, false, false},
		{"group close", Audience{Groups: []string{"close"}}, true, true, false, true, false, false, false},
		{"group family", Audience{Groups: []string{"family"}}, true, false, true, true, false, false, false},
		{"second of two groups", Audience{Groups: []string{"work", "close"}}, true, true, false, true, false, false, false},
		{"a group nobody is in", Audience{Groups: []string{"work"}}, true, false, false, false, false, false, false},
		{"individual", Audience{People: []identity.ID{c.in.Key.ID()}}, true, true, false, false, false, false, false},
		{"second individual", Audience{People: []identity.ID{c.out.Key.ID(), c.fam.Key.ID()}}, true, false, true, false, true, false, false},
		{"public", Audience{Public: true}, true, true, true, true, true, true, true},
		{"group+individual", Audience{Groups: []string{"close"}, People: []identity.ID{c.out.Key.ID()}}, true, true, false, true, true, false, false},
		{"stranger named individually", Audience{People: []identity.ID{c.str.Key.ID()}}, true, false, false, false, false, false, false},
		{"stranger claiming the group", Audience{Groups: []string{"close"}, People: []identity.ID{c.strGrp.Key.ID()}}, true, true, false, true, false, false, false},
	}
	for _, tc := range tests {
		for _, v := range []struct {
			name string
			v    Viewer
			want bool
		}{{"me", c.me, tc.me}, {"in close", c.in, tc.in}, {"in family", c.fam, tc.fam}, {"in both", c.both, tc.both},
			{"in no group", c.out, tc.out}, {"stranger", c.str, tc.str}, {"stranger with groups", c.strGrp, tc.strGrp}} {
			if got := Visible(tc.a, v.v); got != v.want {
				t.Errorf("%s: Visible to the friend %s = %v, want %v", tc.name, v.name, got, v.want)
			}
		}
	}
}

func TestDecideAndShared(t *testing.T) {
	c := newCast(t)
	// Shared once with the group close, then narrowed to me: those who saw it hear of
	// the revocation, the others (a friend of another group included) hear nothing.
	var s Shared
	s.Add(Audience{Groups: []string{"close"}}, []Viewer{c.me, c.in, c.fam, c.both, c.out, c.str})
	if !slices.Equal(s.People, []identity.ID{c.in.Key.ID(), c.both.Key.ID()}) || s.Public {
		t.Fatalf("shared with %v (public %v), want exactly in and both, never the author", s.People, s.Public)
	}
	s.Add(Audience{Groups: []string{"close"}}, []Viewer{c.in})
	if len(s.People) != 2 {
		t.Fatalf("adding a viewer twice recorded them twice: %v", s.People)
	}
	now := Audience{Me: true}
	for _, v := range []struct {
		name string
		v    Viewer
		want Kind
	}{{"me", c.me, Post}, {"in", c.in, Revoked}, {"both", c.both, Revoked}, {"fam", c.fam, Hidden},
		{"out", c.out, Hidden}, {"stranger", c.str, Hidden}} {
		if got := Decide(now, s, v.v); got != v.want {
			t.Errorf("narrowed post: Decide for %s = %v, want %v", v.name, got, v.want)
		}
	}
	if got := Decide(Audience{Groups: []string{"family"}}, s, c.fam); got != Post {
		t.Errorf("Decide for a viewer who may see = %v, want Post", got)
	}
	s.Add(Audience{Public: true}, nil)
	if !s.Public {
		t.Fatal("a public audience did not mark the post as once public")
	}
	if Decide(now, s, c.str) != Revoked || Decide(now, s, c.fam) != Revoked {
		t.Error("a formerly public post is revoked for anyone")
	}
	var never Shared
	never.Add(Audience{Friends: true}, nil)
	if never.Public {
		t.Error("a friends-only audience marked the post as once public")
	}
}

func TestCheck(t *testing.T) {
	friend := key(t)
	isFriend := func(id identity.ID) bool { return id == friend.ID() }
	tests := []struct {
		name   string
		a      Audience
		groups []string
		ok     bool
	}{
		{"empty audience", Audience{}, nil, false},
		{"unknown group", Audience{Groups: []string{"x"}}, []string{"y"}, false},
		{"second group unknown", Audience{Groups: []string{"y", "x"}}, []string{"y"}, false},
		{"non-friend", Audience{People: []identity.ID{key(t).ID()}}, nil, false},
		{"not an ID", Audience{People: []identity.ID{"not-an-id"}}, nil, false},
		{"friend and group", Audience{People: []identity.ID{friend.ID()}, Groups: []string{"y"}}, []string{"y"}, true},
		{"me alone", Audience{Me: true}, nil, true},
		{"public alone", Audience{Public: true}, nil, true},
	}
	for _, tt := range tests {
		err := Check(tt.a, tt.groups, isFriend)
		if tt.ok && err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if !tt.ok && !errors.Is(err, ErrBadAudience) {
			t.Errorf("%s: err = %v, want ErrBadAudience", tt.name, err)
		}
	}
}

func TestAudienceString(t *testing.T) {
	p := key(t)
	tests := []struct {
		a    Audience
		want string
		zero bool
	}{
		{Audience{}, "me", true},
		{Audience{Me: true}, "me", false},
		{Default(), "friends", false},
		{Audience{Public: true}, "public", false},
		{Audience{Groups: []string{"x"}}, "group:x", false},
		{Audience{People: []identity.ID{p.ID()}}, "friend:" + string(p.ID())[:8], false},
		{Audience{Me: true, Friends: true, Public: true, Groups: []string{"a", "b"}},
			"me,friends,public,group:a,group:b", false},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
		if got := tt.a.IsZero(); got != tt.zero {
			t.Errorf("%q: IsZero() = %v, want %v", tt.want, got, tt.zero)
		}
	}
	if !strings.HasPrefix(Audience{People: []identity.ID{p.ID()}}.String(), "friend:") {
		t.Error("a person reads as friend:ID")
	}
}
