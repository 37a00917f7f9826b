package feed

import (
	"crypto/rand"
	"errors"
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

func TestVisibleAndDecide(t *testing.T) {
	in, out, str, me := key(t), key(t), key(t), key(t)
	vIn := Viewer{Key: in, Friend: true, Groups: []string{"close"}}
	vOut := Viewer{Key: out, Friend: true}
	vStr := Stranger(str)
	vMe := Viewer{Key: me, Self: true}
	tests := []struct {
		name                string
		a                   Audience
		me, in, out, strang bool
	}{
		{"me", Audience{Me: true}, true, false, false, false},
		{"friends", Audience{Friends: true}, true, true, true, false},
		{"group", Audience{Groups: []string{"close"}}, true, true, false, false},
		{"individual", Audience{People: []identity.ID{in.ID()}}, true, true, false, false},
		{"public", Audience{Public: true}, true, true, true, true},
		{"group+individual", Audience{Groups: []string{"close"}, People: []identity.ID{out.ID()}}, true, true, true, false},
		{"stranger named individually", Audience{People: []identity.ID{str.ID()}}, true, false, false, false},
	}
	for _, tc := range tests {
		for _, c := range []struct {
			v    Viewer
			want bool
		}{{vMe, tc.me}, {vIn, tc.in}, {vOut, tc.out}, {vStr, tc.strang}} {
			if got := Visible(tc.a, c.v); got != c.want {
				t.Errorf("%s: Visible to %s = %v, want %v", tc.name, c.v.Key.Short(), got, c.want)
			}
		}
	}
	// Shared once with in, then narrowed to me: in hears of the revocation, out nothing.
	var s Shared
	s.Add(Audience{Groups: []string{"close"}}, []Viewer{vIn, vOut})
	now := Audience{Me: true}
	if Decide(now, s, vIn) != Revoked || Decide(now, s, vOut) != Hidden || Decide(now, s, vStr) != Hidden {
		t.Error("revocation must reach exactly those who saw the post")
	}
	s.Add(Audience{Public: true}, nil)
	if Decide(now, s, vStr) != Revoked {
		t.Error("a formerly public post is revoked for anyone")
	}
}

func TestCheck(t *testing.T) {
	friend := key(t)
	isFriend := func(id identity.ID) bool { return id == friend.ID() }
	if err := Check(Audience{}, nil, isFriend); !errors.Is(err, ErrBadAudience) {
		t.Error("empty audience accepted")
	}
	if err := Check(Audience{Groups: []string{"x"}}, []string{"y"}, isFriend); !errors.Is(err, ErrBadAudience) {
		t.Error("unknown group accepted")
	}
	if err := Check(Audience{People: []identity.ID{key(t).ID()}}, nil, isFriend); !errors.Is(err, ErrBadAudience) {
		t.Error("non-friend accepted")
	}
	if err := Check(Audience{People: []identity.ID{friend.ID()}, Groups: []string{"y"}}, []string{"y"}, isFriend); err != nil {
		t.Error(err)
	}
}
