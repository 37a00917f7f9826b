package profile

import (
	"errors"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

func newKey(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	a, b, c := newKey(t), newKey(t), newKey(t)
	in := Profile{Name: "Alice", Follows: []Follow{{Key: b.Public(), Addr: "127.0.0.1:4700"}, {Key: c.Public()}}}
	env, err := Seal(a, in, time.UnixMilli(1000))
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenFrom(env, a.Public())
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner != a.Public() || got.Name != "Alice" || len(got.Follows) != 2 || got.Follows[0] != in.Follows[0] || got.Follows[1] != in.Follows[1] {
		t.Fatalf("opened %+v, want %+v", got, in)
	}
	if _, err := OpenFrom(env, b.Public()); !errors.Is(err, signed.ErrWrongSigner) {
		t.Fatalf("opened as someone else's: err %v, want ErrWrongSigner", err)
	}
	env.Payload[len(env.Payload)-1] ^= 1
	if _, err := OpenFrom(env, a.Public()); err == nil {
		t.Fatal("a tampered profile opened")
	}
	if _, err := Seal(a, Profile{Follows: []Follow{{Key: a.Public()}}}, time.Now()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a profile following its owner: err %v, want ErrInvalid", err)
	}
}

func TestParseFollow(t *testing.T) {
	id := string(newKey(t).ID())
	for _, tc := range []struct {
		in, addr string
		ok       bool
	}{
		{id, "", true},
		{id + "@127.0.0.1:4700", "127.0.0.1:4700", true},
		{id + "@[::1]:4700", "[::1]:4700", true},
		{id + "@host.example:1", "host.example:1", true},
		{id + "@", "", false},
		{id + "@host", "", false},
		{id + "@:4700", "", false},
		{id + "@h:0", "", false},
		{id + "@h:65536", "", false},
		{id[:51], "", false},
		{"", "", false},
	} {
		f, err := ParseFollow(tc.in)
		if (err == nil) != tc.ok || tc.ok && (f.Addr != tc.addr || f.String() != tc.in) {
			t.Errorf("ParseFollow(%q) = %+v, %v; want ok=%v addr %q", tc.in, f, err, tc.ok, tc.addr)
		}
	}
}

// FuzzParseFollow: never panics; whatever parses prints back as itself and re-parses.
func FuzzParseFollow(f *testing.F) {
	f.Add("abc@127.0.0.1:1")
	f.Add("@:")
	f.Fuzz(func(t *testing.T, s string) {
		fl, err := ParseFollow(s)
		if err != nil {
			return
		}
		again, err := ParseFollow(fl.String())
		if err != nil || again != fl {
			t.Fatalf("%q parsed as %+v, which re-parses as %+v, %v", s, fl, again, err)
		}
	})
}
