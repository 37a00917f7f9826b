package syncer

import (
	"context"
	"fmt"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// Step is one Changes answer, checked: what to fetch, what was revoked, where to resume.
// The puller and the crawler both read a peer's feed through it.
type Step struct {
	// Cursor is the answer's last_seq: where the next step starts.
	Cursor uint64
	// Fetch are the posts to ask GetPosts for, each once, in feed order.
	Fetch []post.ID
	// Revoked are posts the caller lost access to.
	Revoked []post.ID
	// Restart says the feed now ends before since (the peer's home was rebuilt, as after
	// a recovery): the caller reads it again from the start (Cursor is 0).
	Restart bool
}

// included are the posts a Changes answer may include with it (include_posts,
// include_conversations): the first MaxIDs of Fetch, which server and puller both name.
func (s Step) included() []post.ID { return s.Fetch[:min(len(s.Fetch), MaxIDs)] }

// ParseChanges checks a Changes answer to a request since a sequence number: entries in
// (since, last_seq], well-formed ids, known kinds, a cursor that does not move back.
func ParseChanges(since uint64, resp *syncv1.ChangesResponse) (Step, error) {
	s := Step{Cursor: resp.GetLastSeq()}
	if s.Cursor < since && len(resp.GetChanges()) == 0 && !resp.GetMore() {
		return Step{Restart: true}, nil
	}
	if s.Cursor < since {
		return s, fmt.Errorf("%w: last_seq %d is before since %d", ErrProtocol, s.Cursor, since)
	}
	if resp.GetMore() && s.Cursor == since {
		return s, fmt.Errorf("%w: more to come, but last_seq did not move from %d", ErrProtocol, since)
	}
	seen := map[post.ID]bool{}
	for _, ch := range resp.GetChanges() {
		id, err := post.ParseID(ch.GetPostId())
		if err != nil || ch.GetSeq() <= since || ch.GetSeq() > s.Cursor {
			return s, fmt.Errorf("%w: bad change %v", ErrProtocol, ch)
		}
		switch ch.GetKind() {
		case syncv1.ChangeKind_CHANGE_KIND_POST:
			if !seen[id] {
				seen[id] = true
				s.Fetch = append(s.Fetch, id)
			}
		case syncv1.ChangeKind_CHANGE_KIND_REVOKED:
			s.Revoked = append(s.Revoked, id)
		default:
			return s, fmt.Errorf("%w: unknown change kind %v", ErrProtocol, ch.GetKind())
		}
	}
	return s, nil
}

// FetchPosts asks c for ids, at most MaxIDs per call, and verifies every envelope (in
// batches on every core) as author's own post, signed by author's identity or one of
// author's certified devices (post.OpenAllChain), and as one that was asked for, each at
// most once. Anything that does not verify fails the whole fetch with ErrTampered. A
// server leaves out posts the caller may not see and, past its answer size, the rest:
// what is still wanted is asked again until an answer brings nothing. before, when set,
// runs before each call (a crawler's politeness).
func FetchPosts(ctx context.Context, c syncv1.SyncServiceClient, author identity.PublicKey, ids []post.ID, before func(context.Context) error) ([]store.Verified, error) {
	return FetchPostsOf(ctx, c, Author{Key: author}, ids, before)
}

// Author is whose posts a fetch expects, and what it knows of the person's devices.
type Author struct {
	// Key is the person's identity key.
	Key identity.PublicKey
	// Revoked are the person's verified device revocations.
	Revoked []device.Revocation
	// Refused, when set, hears of each post left out because the device that signed it
	// was revoked (or its certificate had expired) when it signed.
	Refused func(id []byte, err error)
}

// FetchPostsOf is FetchPosts knowing the author's revocations: a post a revoked device
// signed at or after its revocation is left out (and not asked for again), the rest
// of the answer is kept.
func FetchPostsOf(ctx context.Context, c syncv1.SyncServiceClient, author Author, ids []post.ID, before func(context.Context) error) ([]store.Verified, error) {
	f := newPostFetch(author, ids)
	if err := f.run(ctx, c, before); err != nil {
		return nil, err
	}
	return f.out, nil
}

// postFetch is one FetchPosts in progress: what is still to ask, what is still wanted,
// and what verified. A puller reads the first answer ahead (ask, then take) and lets run
// finish the rest.
type postFetch struct {
	author Author
	want   map[post.ID]bool
	raw    [][]byte
	out    []store.Verified
}

func newPostFetch(author Author, ids []post.ID) *postFetch {
	f := &postFetch{author: author, want: make(map[post.ID]bool, len(ids)), raw: make([][]byte, 0, len(ids))}
	for _, id := range ids {
		f.want[id] = true
		f.raw = append(f.raw, id[:])
	}
	return f
}

// next returns the ids of the next call, none when the fetch is done.
func (f *postFetch) next() [][]byte { return f.raw[:min(len(f.raw), MaxIDs)] }

// ask makes the next call.
func (f *postFetch) ask(ctx context.Context, c syncv1.SyncServiceClient) ([][]byte, *syncv1.GetPostsResponse, error) {
	asked := f.next()
	got, err := c.GetPosts(ctx, &syncv1.GetPostsRequest{Ids: asked})
	if err != nil {
		return asked, nil, fmt.Errorf("get posts: %w", err)
	}
	return asked, got, nil
}

// take verifies the answer to asked and keeps what is still wanted to ask again. A post
// that a revoked device signed is left out, and not asked again.
func (f *postFetch) take(asked [][]byte, got *syncv1.GetPostsResponse) error {
	opened, errs := post.OpenAllChain(got.GetPosts(), f.author.Key, f.author.Revoked)
	var err error
	for i, pl := range opened {
		err = errs[i]
		if err != nil && revokedPost(err) {
			if id, ok := refusedID(got.GetPosts()[i]); ok && f.want[id] {
				delete(f.want, id)
				if f.author.Refused != nil {
					f.author.Refused(id[:], err)
				}
				err = nil
				continue
			}
		}
		if err == nil && !f.want[post.ID(pl.GetId())] {
			err = fmt.Errorf("post %x was not asked for", pl.GetId())
		}
		if err != nil {
			break
		}
		delete(f.want, post.ID(pl.GetId())) // a second copy of one id is not accepted
		f.out = append(f.out, store.Verified{Envelope: got.GetPosts()[i], Payload: pl})
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrTampered, err)
	}
	var again [][]byte
	if len(got.GetPosts()) > 0 {
		for _, id := range asked {
			if f.want[post.ID(id)] {
				again = append(again, id)
			}
		}
	}
	f.raw = append(again, f.raw[len(asked):]...)
	return nil
}

// run asks and takes until nothing is left to ask.
func (f *postFetch) run(ctx context.Context, c syncv1.SyncServiceClient, before func(context.Context) error) error {
	for len(f.raw) > 0 {
		if before != nil {
			if err := before(ctx); err != nil {
				return err
			}
		}
		asked, got, err := f.ask(ctx, c)
		if err != nil {
			return err
		}
		if err := f.take(asked, got); err != nil {
			return err
		}
	}
	return nil
}
