package syncer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// progressLog records every Progress call of a puller.
type progressLog struct {
	mu    sync.Mutex
	steps []store.Applied
	curs  []uint64
}

func (p *progressLog) note(_ identity.PublicKey, n store.Applied, cursor uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.steps = append(p.steps, n)
	p.curs = append(p.curs, cursor)
}

// TestPullInSteps: a reader pulls, two changes per step, exactly the posts it may see,
// each attachment once and byte for byte; the cursor reaches the author's last sequence
// number, each step is reported in order, and a second pull changes nothing.
func TestPullInSteps(t *testing.T) {
	author, reader := newNode(t, "author", nil), newNode(t, "reader", nil)
	other := newNode(t, "other", nil)
	befriend(t, author, reader, "close")
	befriend(t, author, other, "work")
	befriend(t, reader, author)
	photo := randomBytes(t, ChunkSize+1000) // two chunks
	att := author.blob(t, photo)
	small := author.blob(t, []byte("a small note"))
	hiddenAtt := author.blob(t, randomBytes(t, 64))
	want := map[post.ID]bool{}
	want[author.publish(t, "for friends, with a photo", feed.Default(), att)] = true
	want[author.publish(t, "for the close group, the same photo", feed.Audience{Groups: []string{"close"}}, att)] = true
	hidden := []post.ID{
		author.publish(t, "for me", feed.Audience{Me: true}, hiddenAtt),
		author.publish(t, "for the work group", feed.Audience{Groups: []string{"work"}}),
		author.publish(t, "for other alone", feed.Audience{People: []identity.ID{other.key.ID()}}),
	}
	want[author.publish(t, "public, with a note", feed.Audience{Public: true}, small)] = true
	want[author.publish(t, "for reader alone", feed.Audience{People: []identity.ID{reader.key.ID()}})] = true

	var log progressLog
	p := NewPuller(PullerConfig{Store: reader.st, Logger: quiet(), BatchSize: 2, Progress: log.note})
	c := reader.client(t, author)
	res, err := p.Pull(ctxT(t), c, author.pub())
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != len(want) || res.Ignored != 0 || res.Dropped != 0 || res.Blobs != 2 {
		t.Errorf("pull: %+v, want %d stored and 2 blobs", res, len(want))
	}
	if last := author.lastSeq(t, reader); res.Cursor != last || reader.cursor(t, author) != last {
		t.Errorf("cursor %d (stored %d), want the author's last sequence number %d", res.Cursor, reader.cursor(t, author), last)
	}
	for id := range want {
		if reader.holds(t, author, id) != 1 {
			t.Errorf("reader does not hold post %s", id)
		}
	}
	for _, id := range hidden {
		if reader.holds(t, author, id) != 0 {
			t.Errorf("reader holds hidden post %s", id)
		}
	}
	if n := reader.count(t, author); n != len(want) {
		t.Errorf("reader holds %d posts, want %d", n, len(want))
	}
	for _, a := range [][]byte{att.GetSha256(), small.GetSha256()} {
		f, size, err := reader.st.OpenBlob(a)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(f)
		f.Close()
		if uint64(len(got)) != size || (bytes.Equal(a, att.GetSha256()) && !bytes.Equal(got, photo)) {
			t.Errorf("blob %x: %d bytes, not what the author has", a[:4], len(got))
		}
	}
	if ok, _ := reader.st.HasBlob(hiddenAtt.GetSha256()); ok {
		t.Error("reader fetched the blob of a post it may not see")
	}
	stored := 0
	for i, n := range log.steps {
		stored += n.Stored
		if i > 0 && log.curs[i] <= log.curs[i-1] {
			t.Errorf("progress cursors %v do not move forward", log.curs)
		}
	}
	if len(log.steps) != 2 || stored != len(want) || log.curs[len(log.curs)-1] != res.Cursor {
		t.Errorf("progress: %d steps storing %d up to %v; want 2 steps storing %d up to %d", len(log.steps), stored, log.curs, len(want), res.Cursor)
	}

	again, err := p.Pull(ctxT(t), c, author.pub())
	if err != nil {
		t.Fatal(err)
	}
	if again.Stored != 0 || again.Blobs != 0 || again.Cursor != res.Cursor {
		t.Errorf("second pull: %+v, want nothing new at cursor %d", again, res.Cursor)
	}
}

// TestPullEditsAndRevocations: an edit arrives as the next version, a post narrowed away
// from the reader is dropped, and a deletion arrives as a tombstone.
func TestPullEditsAndRevocations(t *testing.T) {
	author, reader := newNode(t, "author", nil), newNode(t, "reader", nil)
	befriend(t, author, reader)
	befriend(t, reader, author)
	edited := author.publish(t, "first words", feed.Default())
	narrowed := author.publish(t, "soon private", feed.Default())
	deleted := author.publish(t, "soon gone", feed.Default())
	p := NewPuller(PullerConfig{Store: reader.st, Logger: quiet()})
	c := reader.client(t, author)
	if res, err := p.Pull(ctxT(t), c, author.pub()); err != nil || res.Stored != 3 {
		t.Fatalf("first pull: %+v, %v", res, err)
	}
	if err := author.st.Edit(edited, "second words"); err != nil {
		t.Fatal(err)
	}
	if err := author.st.SetAudience(narrowed, feed.Audience{Me: true}); err != nil {
		t.Fatal(err)
	}
	if err := author.st.Delete(deleted); err != nil {
		t.Fatal(err)
	}
	res, err := p.Pull(ctxT(t), c, author.pub())
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 2 || res.Dropped != 1 {
		t.Errorf("second pull: %+v, want 2 stored (edit, tombstone) and 1 dropped", res)
	}
	if v := reader.holds(t, author, edited); v != 2 {
		t.Errorf("edited post at version %d, want 2", v)
	}
	if v := reader.holds(t, author, narrowed); v != 0 {
		t.Errorf("narrowed post still held (version %d)", v)
	}
	st, err := reader.st.Post(author.pub(), deleted)
	if err != nil || !st.Payload.GetDeleted() || st.Payload.GetText() != "" {
		t.Errorf("deleted post: %v, deleted %v; want a tombstone", err, st.Payload.GetDeleted())
	}
}

// TestPullFromStrangerRefused: what a key that is not the reader's friend serves is not
// stored (the store takes pulls from friends only), and the cursor does not move.
func TestPullFromStrangerRefused(t *testing.T) {
	author, reader := newNode(t, "author", nil), newNode(t, "reader", nil)
	author.publish(t, "public", feed.Audience{Public: true})
	p := NewPuller(PullerConfig{Store: reader.st, Logger: quiet()})
	_, err := p.Pull(ctxT(t), reader.client(t, author), author.pub())
	if !errors.Is(err, store.ErrNotFriend) {
		t.Fatalf("pull from a stranger: %v, want ErrNotFriend", err)
	}
	if reader.count(t, author) != 0 || reader.cursor(t, author) != 0 {
		t.Error("a pull from a stranger stored something")
	}
}

// TestWatchFollowsLiveChanges: Watch pulls once, then again whenever the friend posts,
// and returns nil when its context ends.
func TestWatchFollowsLiveChanges(t *testing.T) {
	author, reader := newNode(t, "author", nil), newNode(t, "reader", nil)
	befriend(t, author, reader)
	befriend(t, reader, author)
	first := author.publish(t, "before the watch", feed.Default())
	p := NewPuller(PullerConfig{Store: reader.st, Logger: quiet()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Watch(ctx, reader.client(t, author), author.pub()) }()
	t.Cleanup(cancel)
	waitHeld(t, reader, author, first)
	for _, text := range []string{"during the watch", "later during the watch"} {
		waitHeld(t, reader, author, author.publish(t, text, feed.Default()))
		select {
		case err := <-done:
			t.Fatalf("Watch returned (%v) while its context lives", err)
		default:
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch ended with %v after its context ended, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after its context ended")
	}
}

func waitHeld(t *testing.T, reader, author *node, id post.ID) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for reader.holds(t, author, id) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s never got post %s", reader.name, id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWatchEndsWhenTheStreamFails: a Watch whose friend goes away returns an error (the
// caller reconnects), not nil.
func TestWatchEndsWhenTheStreamFails(t *testing.T) {
	author, reader := newNode(t, "author", nil), newNode(t, "reader", nil)
	befriend(t, author, reader)
	befriend(t, reader, author)
	p := NewPuller(PullerConfig{Store: reader.st, Logger: quiet()})
	c := reader.client(t, author)
	done := make(chan error, 1)
	go func() { done <- p.Watch(context.Background(), c, author.pub()) }()
	time.Sleep(300 * time.Millisecond)
	author.tr.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Watch returned nil although its friend went away")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Watch did not return after its friend went away")
	}
}

// TestPullAfterRebuild: a friend's home rebuilt from scratch (a recovery) numbers its
// feed anew, below the reader's cursor; the reader notices, reads it again from the
// start and gets the post made after the rebuild instead of waiting, silently, for the
// new feed to pass its old cursor.
func TestPullAfterRebuild(t *testing.T) {
	author, reader := newNode(t, "author", nil), newNode(t, "reader", nil)
	befriend(t, author, reader)
	befriend(t, reader, author)
	for i := range 20 {
		author.publish(t, fmt.Sprintf("before %d", i), feed.Default())
	}
	p := NewPuller(PullerConfig{Store: reader.st, Logger: quiet()})
	if _, err := p.Pull(ctxT(t), reader.client(t, author), author.pub()); err != nil {
		t.Fatal(err)
	}
	old := reader.cursor(t, author)

	again := startNode(t, "author again", author.key, openStore(t, author.key, "author"), nil)
	befriend(t, again, reader)
	after := again.publish(t, "after the rebuild", feed.Default())
	if last := again.lastSeq(t, reader); last >= old {
		t.Fatalf("the rebuilt feed ends at %d, not before the old cursor %d: the test proves nothing", last, old)
	}
	res, err := p.Pull(ctxT(t), reader.client(t, again), author.pub())
	if err != nil {
		t.Fatal(err)
	}
	if reader.holds(t, author, after) != 1 {
		t.Errorf("the post made after the rebuild was not pulled (%+v)", res)
	}
	if c := reader.cursor(t, author); c != again.lastSeq(t, reader) {
		t.Errorf("cursor %d after the restart, want the rebuilt feed's end %d", c, again.lastSeq(t, reader))
	}
}

// TestWatchTellsStrangersNothing: a stranger's Watch stays silent while the author
// posts for friends; not even an empty message betrays the activity.
func TestWatchTellsStrangersNothing(t *testing.T) {
	author, stranger := newNode(t, "author", nil), newNode(t, "stranger", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := stranger.client(t, author).Watch(ctx, &syncv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	author.publish(t, "for friends", feed.Default())
	if m, err := s.Recv(); err == nil {
		t.Fatalf("a stranger's Watch got %v", m)
	}
}

// TestStrangerBecomesFriend: a reader pulls an author's feed as a stranger (a public post
// edited a few times), then the author adds it; its next pull brings every friends-only
// post made before and the post made for it after, though its cursor is a number of the
// strangers' view, further along than the reader's own view's first entries.
func TestStrangerBecomesFriend(t *testing.T) {
	author, reader := newNode(t, "author", nil), newNode(t, "reader", nil)
	befriend(t, reader, author)
	var before []post.ID
	for i := range 5 {
		before = append(before, author.publish(t, fmt.Sprintf("for friends %d, before", i), feed.Default()))
	}
	pub := author.publish(t, "public", feed.Audience{Public: true})
	for i := range 3 {
		if err := author.st.Edit(pub, fmt.Sprintf("public, edit %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	p := NewPuller(PullerConfig{Store: reader.st, Logger: quiet()})
	if _, err := p.Pull(ctxT(t), reader.client(t, author), author.pub()); err != nil {
		t.Fatal(err)
	}
	if reader.holds(t, author, before[0]) != 0 || reader.holds(t, author, pub) != 4 {
		t.Fatal("as a stranger: want the public post at version 4 and nothing else")
	}
	befriend(t, author, reader)
	after := author.publish(t, "for the reader, after", feed.Audience{People: []identity.ID{reader.key.ID()}})
	if _, err := p.Pull(ctxT(t), reader.client(t, author), author.pub()); err != nil {
		t.Fatal(err)
	}
	for i, id := range append(before, after) {
		if reader.holds(t, author, id) != 1 {
			t.Errorf("after the author added the reader: post %d of 6 missing", i+1)
		}
	}
}
