package store

import (
	"testing"

	"github.com/kithnet/kith/peer/post"
)

// Applied.Dropped counts the revoked posts that were held, not the ids named.
func TestApplyCountsDroppedHeldOnly(t *testing.T) {
	s, _ := initT(t)
	friend := newKey(t)
	must(t, s.PutFriend(Friend{Key: friend.Public(), Name: "bob"}))
	env, p, err := post.Seal(friend, post.Draft{Text: "soon revoked"})
	must(t, err)
	if n, err := s.Apply(friend.Public(), Batch{Posts: []Verified{{env, p}}, Cursor: 1}); err != nil || n.Stored != 1 {
		t.Fatalf("Apply = %+v, %v", n, err)
	}
	var unknown, other post.ID
	unknown[0], other[0] = 1, 2
	n, err := s.Apply(friend.Public(), Batch{Revoked: []post.ID{post.ID(p.GetId()), unknown, other}, Cursor: 2})
	if err != nil || n.Dropped != 1 {
		t.Fatalf("Apply of three revocations, one held = %+v, %v; want 1 dropped", n, err)
	}
	if _, err := s.Post(friend.Public(), post.ID(p.GetId())); err == nil {
		t.Fatal("the revoked post is still held")
	}
}
