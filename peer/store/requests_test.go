package store

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/identity"
)

// TestFriendRequests: a request is kept once per person (a newer one replaces it, an
// older one changes nothing) and noted once; a friend's is answered "already"; at
// MaxFriendRequests pending, a new person's is refused; accepting makes a friend.
func TestFriendRequests(t *testing.T) {
	s, _ := initT(t)
	friend, asker := newKey(t), newKey(t)
	if err := s.PutFriend(Friend{Key: friend.Public(), Name: "F"}); err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1_800_000_000_000)
	if already, err := s.PutFriendRequest(FriendRequest{From: friend.Public(), Name: "F", Created: now}); err != nil || !already {
		t.Fatalf("a friend's request: already %v, %v", already, err)
	}
	if already, err := s.PutFriendRequest(FriendRequest{From: asker.Public(), Name: "Asker", Addr: "h:1", Created: now}); err != nil || already {
		t.Fatalf("a request: already %v, %v", already, err)
	}
	if _, err := s.PutFriendRequest(FriendRequest{From: asker.Public(), Name: "Older", Created: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutFriendRequest(FriendRequest{From: asker.Public(), Name: "Same time", Created: now}); err != nil {
		t.Fatal(err)
	}
	if rs, err := s.FriendRequests(); err != nil || len(rs) != 1 || rs[0].Name != "Asker" {
		t.Fatalf("requests %+v, %v; an older or equally old request replaced the newer", rs, err)
	}
	if _, err := s.PutFriendRequest(FriendRequest{From: asker.Public(), Name: "Newer", Addr: "h:2", Created: now.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if rs, _ := s.FriendRequests(); len(rs) != 1 || rs[0].Name != "Newer" {
		t.Fatalf("requests %+v; want the newer one", rs)
	}
	if notes, _, _ := s.Notes(true); len(notes) != 1 || notes[0].Kind != NoteFriendRequest {
		t.Errorf("notes %+v; want one friend request noted", notes)
	}
	if _, err := s.PutFriendRequest(FriendRequest{From: newKey(t).Public(), Name: "n", Addr: "no port", Created: now}); err == nil {
		t.Error("a request with an address that is not HOST:PORT was kept")
	}

	// Fill up to the bound: the next new person is refused; a known one may still renew.
	var keys []identity.PublicKey
	for i := 1; i < MaxFriendRequests; i++ {
		k := newKey(t).Public()
		keys = append(keys, k)
		if _, err := s.PutFriendRequest(FriendRequest{From: k, Name: "n", Created: now.Add(time.Duration(i) * time.Millisecond)}); err != nil {
			t.Fatalf("request %d of %d: %v", i+1, MaxFriendRequests, err)
		}
	}
	if _, err := s.PutFriendRequest(FriendRequest{From: newKey(t).Public(), Name: "one too many", Created: now}); !errors.Is(err, ErrTooManyRequests) {
		t.Fatalf("request %d: %v, want ErrTooManyRequests", MaxFriendRequests+1, err)
	}
	if _, err := s.PutFriendRequest(FriendRequest{From: asker.Public(), Name: "Renewed", Addr: "h:3", Created: now.Add(time.Hour)}); err != nil {
		t.Fatalf("a known person renewing at the bound: %v", err)
	}
	rs, err := s.FriendRequests()
	if err != nil || len(rs) != MaxFriendRequests || rs[0].Name != "Renewed" || !rs[1].Created.After(rs[2].Created) {
		t.Fatalf("%d requests, first %q; want %d newest first", len(rs), rs[0].Name, MaxFriendRequests)
	}

	if err := s.DropFriendRequest(keys[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.DropFriendRequest(keys[0]); !errors.Is(err, ErrNotFound) {
		t.Errorf("dropping a request twice: %v, want ErrNotFound", err)
	}
	f, err := s.AcceptFriendRequest(asker.Public(), "Ann")
	if err != nil || f.Name != "Ann" || f.Addr != "h:3" {
		t.Fatalf("accept: %+v, %v; want Ann at the latest request's address", f, err)
	}
	if _, err := s.Friend(asker.Public()); err != nil {
		t.Errorf("the accepted requester is no friend: %v", err)
	}
	if _, err := s.AcceptFriendRequest(asker.Public(), "Ann"); !errors.Is(err, ErrNotFound) {
		t.Errorf("accepting twice: %v, want ErrNotFound", err)
	}
	if rs, _ := s.FriendRequests(); len(rs) != MaxFriendRequests-2 {
		t.Errorf("%d requests left, want %d", len(rs), MaxFriendRequests-2)
	}
	// Someone added as a friend another way: their request is answered, no longer listed.
	if err := s.PutFriend(Friend{Key: keys[1], Name: "added"}); err != nil {
		t.Fatal(err)
	}
	rs, err = s.FriendRequests()
	must(t, err)
	for _, r := range rs {
		if r.From == keys[1] {
			t.Error("a request from someone now a friend is still listed")
		}
	}

	for _, tc := range []struct {
		friends bool
		want    string
	}{{false, "sent"}, {true, "friends"}} {
		if err := s.SetRequestState(friend.Public(), tc.friends); err != nil {
			t.Fatal(err)
		}
		if st, err := s.RequestState(friend.Public()); err != nil || st != tc.want {
			t.Errorf("state %q, %v; want %q", st, err, tc.want)
		}
	}
	if st, _ := s.RequestState(asker.Public()); st != "" {
		t.Errorf("state of a request never sent: %q", st)
	}
}

// TestReachKeys: the person's key is made once and kept; a friend's key is kept only for
// a friend and at the right length; removing that friend rotates the own key and
// forgets theirs.
func TestReachKeys(t *testing.T) {
	s, _ := initT(t)
	friend, stranger := newKey(t), newKey(t)
	if err := s.PutFriend(Friend{Key: friend.Public(), Name: "F"}); err != nil {
		t.Fatal(err)
	}
	own, err := s.ReachKey()
	if err != nil || len(own) != reachKeyLen {
		t.Fatalf("own key %x, %v", own, err)
	}
	if again, _ := s.ReachKey(); !bytes.Equal(again, own) {
		t.Fatal("the own key changed without a removal")
	}
	theirs := bytes.Repeat([]byte{7}, reachKeyLen)
	if err := s.SetFriendReachKey(stranger.Public(), theirs); !errors.Is(err, ErrNotFriend) {
		t.Errorf("a stranger's key: %v, want ErrNotFriend", err)
	}
	for _, n := range []int{reachKeyLen - 1, reachKeyLen + 1} {
		if err := s.SetFriendReachKey(friend.Public(), make([]byte, n)); err == nil {
			t.Errorf("a %d-byte key was kept", n)
		}
	}
	if err := s.SetFriendReachKey(friend.Public(), theirs); err != nil {
		t.Fatal(err)
	}
	if got, err := s.FriendReachKey(friend.Public()); err != nil || !bytes.Equal(got, theirs) {
		t.Fatalf("friend's key %x, %v", got, err)
	}
	if got, _ := s.FriendReachKey(stranger.Public()); got != nil {
		t.Errorf("a stranger's key is held: %x", got)
	}
	if err := s.RemoveFriend(friend.Public()); err != nil {
		t.Fatal(err)
	}
	if now, _ := s.ReachKey(); bytes.Equal(now, own) || len(now) != reachKeyLen {
		t.Error("removing a friend did not rotate the own key")
	}
	if got, _ := s.FriendReachKey(friend.Public()); got != nil {
		t.Error("a removed friend's key is still held")
	}
}
