package public

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/kithnet/kith/peer/post"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

// ReplySource is a Source that also serves the public replies of its public posts.
// PublicReplies returns the envelopes of replies to the post with that id that are
// public (signed so by their authors) while the post is public, oldest first or in any
// order; nothing for a post that is not public. The handler verifies each again.
type ReplySource interface {
	PublicReplies(ctx context.Context, id PostID) ([]*signedv1.Envelope, error)
}

// replyView is one reply as the post page shows it.
type replyView struct {
	Author  string // the replier's ID
	Text    string
	Created time.Time
}

// replies returns the verified public replies to a post, for its page. Anything a
// Source returns that is not a public, live reply to this very post is left out.
func (s *server) replies(ctx context.Context, prof Profile, id PostID) []replyView {
	rs, ok := s.cfg.Source.(ReplySource)
	if !ok {
		return nil
	}
	envs, err := rs.PublicReplies(ctx, id)
	if err != nil {
		s.log.Warn("public: replies", "id", id, "err", err)
		return nil
	}
	var out []replyView
	for _, env := range envs {
		r, err := post.OpenReply(env)
		if err != nil || r.GetDeleted() || r.GetVisibility() != postv1.Visibility_VISIBILITY_PUBLIC ||
			string(r.GetPostAuthor()) != string(prof.ID[:]) || string(r.GetPostId()) != string(id[:]) {
			s.log.Error("public: source returned a reply it must not; left out", "id", id, "err", err)
			continue
		}
		author := identity.PublicKey(r.GetAuthor())
		out = append(out, replyView{Author: string(author.ID()), Text: r.GetText(), Created: time.UnixMilli(r.GetCreatedUnixMs()).UTC()})
	}
	slices.SortStableFunc(out, func(a, b replyView) int { return a.Created.Compare(b.Created) })
	return out
}

// replyKey adds the replies a page shows to its cache key.
func replyKey(k cacheKey, rs []replyView) cacheKey {
	for _, r := range rs {
		k = k.add(r.Author, r.Text, strconv.FormatInt(r.Created.UnixMilli(), 10))
	}
	return k
}
