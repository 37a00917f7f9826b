package syncer

import (
	"context"
	"fmt"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// A person's devices share the conversations of their posts (issue 16; docs/DESIGN.md
// "A person's devices share the conversations of their posts"): a device pulling
// another fetches, with GetConversations as the person, the conversations of the own
// posts of each OwnChanges page, with the replies removed there, and ApplyOwn merges
// them into what it hosts in the page's transaction.

// removedChunk is how many removed replies one GetConversations message names at most.
const removedChunk = 1000

// sendRemoved streams the replies removed from own post id's conversation to the
// caller k: the store names them to the person alone, so nobody else gets a message.
func (s *Server) sendRemoved(send func(*syncv1.GetConversationsResponse) error, k identity.PublicKey, id post.ID) error {
	refs, err := s.st.RemovedReplies(k, id)
	if err != nil {
		return err
	}
	for len(refs) > 0 {
		n := min(removedChunk, len(refs))
		msg := &syncv1.GetConversationsResponse{PostId: id[:]}
		for _, r := range refs[:n] {
			msg.Removed = append(msg.Removed, append(append([]byte(nil), r.Author[:]...), r.ID[:]...))
		}
		if err := send(msg); err != nil {
			return err
		}
		refs = refs[n:]
	}
	return nil
}

// takeRemoved reads the removed replies of one message into cur: each an author key
// and a reply id, at most removedChunk a message and store.MaxRecordsPerPost a post.
func takeRemoved(cur *store.HeldConversation, raw [][]byte) error {
	if len(raw) > removedChunk || len(cur.Removed)+len(raw) > store.MaxRecordsPerPost {
		return fmt.Errorf("too many removed replies of post %s", cur.PostID)
	}
	for _, b := range raw {
		var r store.ReplyRef
		if len(b) != len(r.Author)+len(r.ID) {
			return fmt.Errorf("a removed reply of post %s is %d bytes, not an author key and a reply id", cur.PostID, len(b))
		}
		copy(r.Author[:], b)
		copy(r.ID[:], b[len(r.Author):])
		cur.Removed = append(cur.Removed, r)
	}
	return nil
}

// ownConversations fetches from another device of the person the conversations of the
// live own posts of a page, every record verified as a reader verifies it, and the
// photos of their replies that this device lacks.
func (p *Puller) ownConversations(ctx context.Context, c syncv1.SyncServiceClient, self identity.PublicKey, vs []store.Verified) ([]store.HeldConversation, int, error) {
	cs, err := FetchConversations(ctx, c, self, liveIDs(vs), p.cfg.Store.Revocations, p.log)
	if err != nil {
		return nil, 0, fmt.Errorf("conversations of own posts: %w", err)
	}
	n, err := p.fetchAttachments(ctx, c, self, replyAttachments(cs))
	return cs, n, err
}
