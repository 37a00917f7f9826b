package store

import (
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/peer/post"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	"github.com/kithnet/kith/shared/identity"
)

// QuietPeriod is "a while" for the notification of a friend's first post after a while:
// a post that comes at least this long after the newest post held from that friend,
// and was itself written within this long (a first pull of old history, or a post
// that took weeks to arrive, notifies nobody).
const QuietPeriod = 7 * 24 * time.Hour

var bLastPost = []byte("lastpost") // friend key(32) -> created ms(8) of the newest post pulled from them

// noteReturn keeps, in the pull's transaction, the creation time of the newest post
// pulled from friend, and notifies the person when newest (the newest post this step
// stored for the first time; nil when none) breaks a silence of QuietPeriod. Creation
// times are the author's claim: one in the future counts as now, so a friend's clock
// cannot silence their next posts. The first post ever pulled from a friend sets the
// mark only: nothing tells whether it followed a silence.
func (s *Store) noteReturn(tx *bolt.Tx, friend identity.PublicKey, newest *postv1.Payload) error {
	if newest == nil {
		return nil
	}
	now := s.now()
	created := min(newest.GetCreatedUnixMs(), now.UnixMilli())
	b := tx.Bucket(bLastPost)
	prev := b.Get(friend[:])
	if prev != nil && created <= int64(getU64(prev)) {
		return nil
	}
	if err := b.Put(friend[:], u64(uint64(created))); err != nil {
		return err
	}
	if prev == nil || created-int64(getU64(prev)) < QuietPeriod.Milliseconds() || now.UnixMilli()-created >= QuietPeriod.Milliseconds() {
		return nil
	}
	return s.addNote(tx, Note{Kind: NotePost, From: friend, PostID: post.ID(newest.GetId()), Text: newest.GetText()})
}

// newerPost is the newer of a and b by creation time (nil counts as oldest).
func newerPost(a, b *postv1.Payload) *postv1.Payload {
	if a == nil || (b != nil && b.GetCreatedUnixMs() > a.GetCreatedUnixMs()) {
		return b
	}
	return a
}

// notePostMention notifies the person of a friend's post that mentions them, the first
// time the post arrives (only its audience pulls it, so only a mention in the audience
// notifies).
func (s *Store) notePostMention(tx *bolt.Tx, friend identity.PublicKey, p *postv1.Payload) error {
	if !s.hasSelf || friend == s.self {
		return nil
	}
	for _, m := range p.GetMentions() {
		if string(m) == string(s.self[:]) {
			return s.addNote(tx, Note{Kind: NoteMention, From: friend, PostID: post.ID(p.GetId()), Text: p.GetText()})
		}
	}
	return nil
}
