package store

import (
	"errors"
	"net/netip"
	"testing"
)

// A friend's last direct address is kept, refused for a stranger, and forgotten with
// the friend.
func TestLastPath(t *testing.T) {
	s, _ := initT(t)
	friend, stranger := newKey(t).Public(), newKey(t).Public()
	if err := s.PutFriend(Friend{Key: friend, Name: "f"}); err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort("198.18.3.2:4700")
	if _, ok := s.LastPath(friend); ok {
		t.Fatal("a last path before any was set")
	}
	if err := s.SetLastPath(friend, addr); err != nil {
		t.Fatal(err)
	}
	if got, ok := s.LastPath(friend); !ok || got != addr {
		t.Fatalf("LastPath = %v, %v; want %v", got, ok, addr)
	}
	if err := s.SetLastPath(stranger, addr); !errors.Is(err, ErrNotFriend) {
		t.Fatalf("SetLastPath of a stranger: %v, want ErrNotFriend", err)
	}
	if err := s.SetLastPath(friend, netip.AddrPort{}); err == nil {
		t.Fatal("SetLastPath accepted an invalid address")
	}
	if err := s.RemoveFriend(friend); err != nil {
		t.Fatal(err)
	}
	if err := s.PutFriend(Friend{Key: friend, Name: "f again"}); err != nil {
		t.Fatal(err)
	}
	if got, ok := s.LastPath(friend); ok {
		t.Fatalf("a removed friend's last path survived its removal: %v", got)
	}
}
