package public

import (
	"context"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/kithnet/kith/peer/post"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// ReplySource is a Source that also serves the public replies of its public posts.
// PublicReplies returns the envelopes of replies to the post with that id that are
// public (signed so by their authors) while the post is public, oldest first or in any
// order; nothing for a post that is not public. The handler verifies each again.
type ReplySource interface {
	PublicReplies(ctx context.Context, id PostID) ([]*signedv1.Envelope, error)
}

// RevocationSource is a Source that also gives the device revocations it holds for a
// person (issue 16): with it, the handler shows a public reply one of the replier's
// devices signed (kith/reply/v2) when its chain holds against them. Without it, only
// replies their author's identity signed are shown: the handler never takes a device
// without knowing its person's revocations.
type RevocationSource interface {
	DeviceRevocations(ctx context.Context, person identity.PublicKey) ([]device.Revocation, error)
}

// openReply verifies a reply as the handler may show it.
func (s *server) openReply(ctx context.Context, env *signedv1.Envelope) (*postv1.Reply, error) {
	rs, ok := s.cfg.Source.(RevocationSource)
	if !ok {
		return post.OpenReply(env)
	}
	return post.OpenReplyChain(env, func(p identity.PublicKey) ([]device.Revocation, error) { return rs.DeviceRevocations(ctx, p) })
}

// replyView is one reply as the post page shows it.
type replyView struct {
	ID      string // the reply's id, hex
	Author  string // the replier's ID
	Text    string
	Created time.Time
	Updated time.Time
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
		r, err := s.openReply(ctx, env)
		if err != nil || r.GetDeleted() || r.GetVisibility() != postv1.Visibility_VISIBILITY_PUBLIC ||
			string(r.GetPostAuthor()) != string(prof.ID[:]) || string(r.GetPostId()) != string(id[:]) {
			s.log.Error("public: source returned a reply it must not; left out", "id", id, "err", err)
			continue
		}
		author := identity.PublicKey(r.GetAuthor())
		out = append(out, replyView{ID: hex.EncodeToString(r.GetId()), Author: string(author.ID()), Text: r.GetText(),
			Created: time.UnixMilli(r.GetCreatedUnixMs()).UTC(), Updated: time.UnixMilli(r.GetUpdatedUnixMs()).UTC()})
	}
	slices.SortStableFunc(out, func(a, b replyView) int { return a.Created.Compare(b.Created) })
	return out
}

// replyKey adds the replies a page shows to its cache key.
func replyKey(k cacheKey, rs []replyView) cacheKey {
	for _, r := range rs {
		k = k.add(r.ID, r.Author, r.Text, strconv.FormatInt(r.Created.UnixMilli(), 10), strconv.FormatInt(r.Updated.UnixMilli(), 10))
	}
	return k
}

// feedReplies returns the verified public replies of each post of a feed page, in the
// posts' order, and the cache key with them added (an edit or a delete changes it).
func (s *server) feedReplies(r *http.Request, prof Profile, posts []Post, k cacheKey) ([][]replyView, cacheKey) {
	if _, ok := s.cfg.Source.(ReplySource); !ok {
		return make([][]replyView, len(posts)), k
	}
	ctx, cancel := s.sourceCtx(r)
	defer cancel()
	out := make([][]replyView, len(posts))
	for i, p := range posts {
		out[i] = s.replies(ctx, prof, PostID(p.Payload.GetId()))
		k = replyKey(k.add("replies", strconv.Itoa(i)), out[i])
	}
	return out, k
}

// replyURL names one reply: its post's page and an anchor for it.
func replyURL(postURL string, r replyView) string {
	return postURL + "#reply-" + r.Author + "-" + r.ID
}

// newestReply is t or the newest reply's time, whichever is later.
func newestReply(t time.Time, rs [][]replyView) time.Time {
	for _, r := range rs {
		for _, x := range r {
			t = maxTime(t, x.Updated)
		}
	}
	return t
}
