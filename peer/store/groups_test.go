package store

import (
	"bytes"
	"testing"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	"github.com/kithnet/kith/shared/identity"
)

// TestGroupPostReachesOnlyItsGroup: a post with a photo for the group "family" is
// served (changes feed, posts, blob) to a friend in that group and to nobody else: not
// to a friend in another group, nor a friend in no group, nor a stranger.
func TestGroupPostReachesOnlyItsGroup(t *testing.T) {
	s, me := initT(t)
	for _, g := range []string{"family", "work"} {
		if err := s.AddGroup(g); err != nil {
			t.Fatal(err)
		}
	}
	fam, work, none, stranger := newKey(t).Public(), newKey(t).Public(), newKey(t).Public(), newKey(t).Public()
	for _, f := range []Friend{{Key: fam, Name: "fam", Groups: []string{"family"}},
		{Key: work, Name: "work", Groups: []string{"work"}}, {Key: none, Name: "none"}} {
		if err := s.PutFriend(f); err != nil {
			t.Fatal(err)
		}
	}
	att, err := s.PutBlob(bytes.NewReader([]byte("a family photo")))
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Publish(NewPost{Text: "family only", Attachments: []*postv1.Attachment{att},
		Audience: feed.Audience{Groups: []string{"family"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		name string
		key  identity.PublicKey
		sees bool
	}{{"me", me.Public(), true}, {"a friend in the group", fam, true}, {"a friend in another group", work, false},
		{"a friend in no group", none, false}, {"a stranger", stranger, false}} {
		pg, err := s.Changes(v.key, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		inFeed := false
		for _, c := range pg.Changes {
			if c.ID == id {
				inFeed = true
			}
		}
		if len(pg.Changes) > 0 && !v.sees {
			t.Errorf("%s: the changes feed tells %d entries (the post: %v), want none", v.name, len(pg.Changes), inFeed)
		}
		if inFeed != v.sees {
			t.Errorf("%s: the post in the changes feed = %v, want %v", v.name, inFeed, v.sees)
		}
		envs, err := s.VisiblePosts(v.key, []post.ID{id})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(envs) == 1; got != v.sees {
			t.Errorf("%s: VisiblePosts gives %d posts, want the post: %v", v.name, len(envs), v.sees)
		}
		ok, err := s.BlobVisible(v.key, att.Sha256)
		if err != nil {
			t.Fatal(err)
		}
		if ok != v.sees {
			t.Errorf("%s: BlobVisible = %v, want %v", v.name, ok, v.sees)
		}
	}
}
