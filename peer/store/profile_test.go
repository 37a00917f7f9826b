package store

import (
	"errors"
	"testing"

	"github.com/kithnet/kith/peer/profile"
	"github.com/kithnet/kith/shared/identity"
)

// TestPublicProfile: nothing is published by default; the follow list and the name
// appear only once set, survive a reopen, and 'none' (an empty list) clears the list.
func TestPublicProfile(t *testing.T) {
	home := t.TempDir()
	st, err := Open(Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	me, _ := identity.Generate(nil)
	other, _ := identity.Generate(nil)
	if err := st.Init(me, "Me"); err != nil {
		t.Fatal(err)
	}
	p, err := st.PublicProfile()
	if err != nil || p.Owner != me.Public() || p.Name != "" || p.Follows != nil {
		t.Fatalf("default profile %+v, %v: want only the owner", p, err)
	}
	want := []profile.Follow{{Key: other.Public(), Addr: "127.0.0.1:4700"}}
	if err := st.SetPublicFollows(want); err != nil {
		t.Fatal(err)
	}
	if err := st.SetPublishName(true); err != nil {
		t.Fatal(err)
	}
	if err := st.SetPublicFollows([]profile.Follow{{Key: me.Public()}}); !errors.Is(err, profile.ErrInvalid) {
		t.Fatalf("following oneself: %v, want ErrInvalid (and nothing changed)", err)
	}
	st.Close()
	if st, err = Open(Config{Home: home}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err = st.PublicProfile()
	if err != nil || p.Name != "Me" || len(p.Follows) != 1 || p.Follows[0] != want[0] {
		t.Fatalf("profile after reopen %+v, %v: want name Me and %v", p, err, want)
	}
	if err := st.SetPublicFollows(nil); err != nil {
		t.Fatal(err)
	}
	if p, _ = st.PublicProfile(); p.Follows != nil {
		t.Fatalf("follows %v after clearing, want none", p.Follows)
	}
}
