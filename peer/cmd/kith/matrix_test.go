package main

import (
	"testing"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
)

// held is what a home holds of one post.
type held struct {
	has     bool
	version uint64
	deleted bool
}

// holdings opens a stopped home and reports what it holds of author's posts.
func holdings(t *testing.T, home, author string, ids map[string]string) (map[string]held, int) {
	t.Helper()
	st, err := store.Open(store.Config{Home: home, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := mustParseID(t, author)
	out := map[string]held{}
	for name, s := range ids {
		id, err := post.ParseIDString(s)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := st.Post(a, id); err == nil {
			out[name] = held{true, p.Payload.GetVersion(), p.Payload.GetDeleted()}
		}
	}
	n, err := st.CountPosts(a)
	if err != nil {
		t.Fatal(err)
	}
	return out, n
}

// TestAudienceMatrixProcesses runs four kith processes: an author, a friend inside each
// audience, a friend outside, and a stranger, then edits, deletes and revokes.
func TestAudienceMatrixProcesses(t *testing.T) {
	author, authorID := newHome(t, "author")
	inside, insideID := newHome(t, "inside")
	outside, outsideID := newHome(t, "outside")
	stranger, _ := newHome(t, "stranger")
	addr := freePort(t)
	startDaemon(t, author, addr)
	kith(t, author, "friend", "add", insideID, "--name", "inside", "--group", "close")
	kith(t, author, "friend", "add", outsideID, "--name", "outside")
	for _, h := range []string{inside, outside, stranger} {
		withDaemon(t, h, func() { kith(t, h, "friend", "add", authorID, "--name", "author", "--addr", addr) })
	}
	rows := []struct {
		name                     string
		to                       []string
		inside, outside, strange bool
	}{
		{"me", []string{"me"}, false, false, false},
		{"friends", []string{"friends"}, true, true, false},
		{"default", nil, true, true, false},
		{"group", []string{"close"}, true, false, false},
		{"individual by name", []string{"inside"}, true, false, false},
		{"individual by ID", []string{outsideID}, false, true, false},
		{"public", []string{"public"}, true, true, true},
		{"group+individual", []string{"close", "outside"}, true, true, false},
	}
	ids := map[string]string{}
	for _, r := range rows {
		args := []string{"post"}
		for _, to := range r.to {
			args = append(args, "--to", to)
		}
		ids[r.name] = kith(t, author, append(args, "post for "+r.name)...)
	}
	viewers := []struct {
		name, home string
		sees       func(int) bool
	}{
		{"inside", inside, func(i int) bool { return rows[i].inside }},
		{"outside", outside, func(i int) bool { return rows[i].outside }},
		{"stranger", stranger, func(i int) bool { return rows[i].strange }},
	}
	for _, v := range viewers {
		syncOnce(t, v.home)
		got, n := holdings(t, v.home, authorID, ids)
		want := 0
		for i, r := range rows {
			if got[r.name].has != v.sees(i) {
				t.Errorf("%s holds the %q post: %v, want %v", v.name, r.name, got[r.name].has, v.sees(i))
			}
			if v.sees(i) {
				want++
			}
		}
		if n != want {
			t.Errorf("%s holds %d of author's posts, want exactly %d", v.name, n, want)
		}
	}

	// Edit, delete, and take inside out of the group: a revocation for the group post.
	kith(t, author, "edit", ids["friends"], "edited #now")
	kith(t, author, "rm", ids["default"])
	kith(t, author, "group", "rm", "close", insideID)
	for _, v := range viewers {
		syncOnce(t, v.home)
	}
	checks := []struct {
		who, home, post string
		want            held
	}{
		{"inside", inside, "friends", held{true, 2, false}},
		{"outside", outside, "friends", held{true, 2, false}},
		{"inside", inside, "default", held{true, 2, true}},
		{"outside", outside, "default", held{true, 2, true}},
		{"inside", inside, "group", held{}},
		{"inside", inside, "group+individual", held{}},
		{"outside", outside, "group+individual", held{true, 1, false}},
		{"inside", inside, "individual by name", held{true, 1, false}},
		{"stranger", stranger, "friends", held{}},
	}
	for _, c := range checks {
		got, _ := holdings(t, c.home, authorID, ids)
		if got[c.post] != c.want {
			t.Errorf("after edit/delete/regroup, %s holds %q as %+v, want %+v", c.who, c.post, got[c.post], c.want)
		}
	}
}
