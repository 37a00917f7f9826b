package daemon_test

import (
	"context"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/store"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Issue 13 item 7 over the sync API: a stranger and a friend outside a group ask Changes
// and keep a Watch open while the author posts to the group and to one friend, edits,
// and adds, regroups and removes friends. Their last_seq stays put and their Watch says
// nothing; a public post then reaches both as one entry right after it.
func TestFeedShowsNoPrivateActivity(t *testing.T) {
	author, inside, outside, stranger := matrixPeers(t)
	author.publish(t, "hello world", feed.Audience{Public: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	watchers := map[string]syncv1.SyncServiceClient{"stranger": stranger.client(t, author), "outside": outside.client(t, author)}
	last := map[string]uint64{}
	watches := map[string]syncv1.SyncService_WatchClient{}
	for name, c := range watchers {
		resp, err := c.Changes(ctx, &syncv1.ChangesRequest{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		last[name] = resp.GetLastSeq()
		if watches[name], err = c.Watch(ctx, &syncv1.WatchRequest{Since: last[name]}); err != nil {
			t.Fatal(err)
		}
	}

	g := author.publish(t, "climbing trip", feed.Audience{Groups: []string{"close"}})
	one := author.publish(t, "for inside only", feed.Audience{People: []identity.ID{inside.pub().ID()}})
	for _, err := range []error{
		author.st.Edit(g, "climbing trip, edited"),
		author.st.Edit(one, "for inside only, edited"),
		author.st.PutFriend(store.Friend{Key: inside.pub(), Name: "inside", Groups: []string{"close", "chess"}}),
		author.st.PutFriend(store.Friend{Key: newPeer(t, "newcomer").pub(), Name: "newcomer", Groups: []string{"close"}}),
		author.st.Delete(g),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for name, c := range watchers {
		resp, err := c.Changes(ctx, &syncv1.ChangesRequest{Since: 0, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetLastSeq() != last[name] {
			t.Errorf("%s: last_seq moved from %d to %d with activity it may not see", name, last[name], resp.GetLastSeq())
		}
	}

	pub := author.publish(t, "public again", feed.Audience{Public: true})
	for name, w := range watches {
		msg, err := w.Recv() // the first thing the Watch says must be the public post
		if err != nil {
			t.Fatal(err)
		}
		ch := msg.GetChanges()
		if len(ch) != 1 || string(ch[0].GetPostId()) != string(pub[:]) || ch[0].GetSeq() != last[name]+1 || msg.GetLastSeq() != last[name]+1 {
			t.Errorf("%s's Watch first said %v (last_seq %d); want only the public post at %d", name, ch, msg.GetLastSeq(), last[name]+1)
		}
	}
}
