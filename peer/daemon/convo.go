package daemon

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/syncer"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// deliverTimeout bounds handing one record to a post's author while the person waits.
const deliverTimeout = 10 * time.Second

// deliverOutbox hands f every own record still waiting for them (f hosts the posts).
// A record f refuses for good (the post is gone, the reply was removed) leaves the
// outbox too, with a log line; one that fails otherwise waits for the next sync.
func (n *Node) deliverOutbox(ctx context.Context, c syncv1.SyncServiceClient, f store.Friend) {
	recs, err := n.st.Outbox(f.Key)
	if err != nil {
		n.log.Warn("read the outbox", "err", err)
		return
	}
	for _, rec := range recs {
		err := syncer.Deliver(ctx, c, n.st, rec)
		switch {
		case err == nil:
		case refusedForGood(err):
			n.log.Warn("a friend refused a reply or reaction; it stays here only", "friend", f.Key.ID(), "err", err)
		default:
			n.log.Info("could not deliver a reply or reaction yet", "friend", f.Key.ID(), "err", err)
			continue
		}
		if err := n.st.Delivered(rec.Reply, rec.Reaction); err != nil {
			n.log.Warn("mark delivered", "err", err)
		}
	}
}

// deliverNow hands one own record to its host while the person waits. It says whether
// the host holds it and, if not, why, for a person.
func (n *Node) deliverNow(ctx context.Context, host identity.PublicKey, rec store.Record) (bool, string, error) {
	f, err := n.st.Friend(host)
	if err != nil {
		return false, "the post's author is not your friend any more; it waits here", nil
	}
	if !n.reachable(f) {
		return false, fmt.Sprintf("%s has no known address; it goes out at the next sync with them", cmp.Or(f.Name, f.Key.Short())), nil
	}
	ctx, cancel := context.WithTimeout(ctx, deliverTimeout)
	defer cancel()
	cc, err := n.client(ctx, f)
	if err != nil {
		return false, fmt.Sprintf("%s is not reachable now (%v); it goes out at the next sync with them", cmp.Or(f.Name, f.Key.Short()), err), nil
	}
	defer cc.Close()
	err = syncer.Deliver(ctx, syncv1.NewSyncServiceClient(cc), n.st, rec)
	switch {
	case err == nil:
		return true, "", n.st.Delivered(rec.Reply, rec.Reaction)
	case refusedForGood(err):
		// Take it back out so nothing pretends it was sent.
		return false, "", fmt.Errorf("%s refused it: %s", cmp.Or(f.Name, f.Key.Short()), status.Convert(err).Message())
	}
	return false, fmt.Sprintf("%s did not take it now (%v); it goes out at the next sync with them", cmp.Or(f.Name, f.Key.Short()), err), nil
}

// refusedForGood tells a host's refusal of a reply or reaction, which trying again
// cannot change (the post is gone, the conversation full, the record invalid), from a
// failure worth another try: a lost connection, or a host busy with our other calls
// (errTooManyCalls, Unavailable).
func refusedForGood(err error) bool {
	switch status.Code(err) {
	case codes.NotFound, codes.PermissionDenied, codes.FailedPrecondition, codes.InvalidArgument, codes.ResourceExhausted:
		return true
	}
	return false
}

// Conversation serves kith.local.v1.ConversationService.
type Conversation struct {
	localv1.UnimplementedConversationServiceServer
	l *Local
}

// NewConversation returns the conversation part of the local API.
func NewConversation(l *Local) *Conversation { return &Conversation{l: l} }

// findPost finds a held post by id, own or a friend's. A post the person may not see
// is not held, so it answers exactly like an unknown one.
func (c *Conversation) findPost(hexID string) (store.Stored, error) {
	id, err := post.ParseIDString(strings.ToLower(strings.TrimSpace(hexID)))
	if err != nil {
		return store.Stored{}, status.Error(codes.InvalidArgument, err.Error())
	}
	found, err := c.l.st.PostByID(id)
	if errors.Is(err, store.ErrNotFound) || err == nil && found.Payload.GetDeleted() {
		return store.Stored{}, status.Errorf(codes.NotFound, "post %s: no such post here (unknown, deleted, or not shared with you)", id)
	}
	if err != nil {
		return store.Stored{}, grpcError(err)
	}
	return found, nil
}

// me is what the person signs conversation records with here: the identity key, or on
// a joined device its device key and certificate (records v2, issue 16).
func (c *Conversation) me() (store.Signer, error) {
	g, err := c.l.st.Signer()
	if err != nil {
		return g, grpcError(err)
	}
	return g, nil
}

// mentions finds the people a text mentions: @ID, or @NAME of a friend.
func (c *Conversation) mentions(text string) ([]identity.PublicKey, error) {
	return mentionsIn(c.l.st, text)
}

// mentionsIn finds the people a text mentions, a post's or a reply's: @ID, or @NAME of
// a friend (at most post.MaxMentions).
func mentionsIn(st *store.Store, text string) ([]identity.PublicKey, error) {
	fs, err := st.Friends()
	if err != nil {
		return nil, err
	}
	var out []identity.PublicKey
	for _, m := range MentionWords(text) {
		var k identity.PublicKey
		ok := false
		if id, err := identity.ParseID(m); err == nil {
			k, ok = id, true
		} else {
			for _, f := range fs {
				if strings.EqualFold(f.Name, m) {
					k, ok = f.Key, true
					break
				}
			}
		}
		if ok && !slices.Contains(out, k) && len(out) < post.MaxMentions {
			out = append(out, k)
		}
	}
	return out, nil
}

// MentionWords returns the words after '@' in text.
func MentionWords(text string) []string {
	var out []string
	for _, w := range strings.Fields(text) {
		i := strings.IndexByte(w, '@')
		if i < 0 || i > 0 && w[i-1] != '(' {
			continue
		}
		w = strings.TrimRight(w[i+1:], ".,;:!?)'\"")
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

// publish stores an own record and hands it to its host: the daemon itself when the
// post is the person's own.
func (c *Conversation) publish(ctx context.Context, me store.Signer, host identity.PublicKey, rec store.Record) (bool, string, error) {
	if host == me.Person {
		var err error
		if rec.Reply != nil {
			_, err = c.l.st.HostReply(host, rec.Envelope, rec.Reply)
		} else {
			_, err = c.l.st.HostReaction(host, rec.Envelope, rec.Reaction)
		}
		return err == nil, "", convoError(err)
	}
	if err := c.l.st.PutOwnRecord(rec.Envelope, rec.Reply, rec.Reaction); err != nil {
		return false, "", grpcError(err)
	}
	ok, note, err := c.l.node.deliverNow(ctx, host, rec)
	if err != nil {
		// Refused by the host: it must not linger as if it were part of the thread.
		if derr := c.l.st.ForgetOwnRecord(rec.Reply, rec.Reaction); derr != nil {
			err = errors.Join(err, derr)
		}
		return false, "", status.Error(codes.FailedPrecondition, err.Error())
	}
	return ok, note, nil
}

// Reply writes a reply and hands it to the post's author. Its files are stored first;
// a reply that is not written after all (a bad file, a refusal) takes them away again.
func (c *Conversation) Reply(ctx context.Context, req *localv1.ReplyRequest) (*localv1.ReplyResponse, error) {
	var atts []*postv1.Attachment
	resp, err := c.reply(ctx, req, &atts)
	if err != nil {
		if derr := c.l.st.DropUnreferenced(atts); derr != nil {
			c.l.node.log.Warn("drop the files of a reply not written", "err", derr)
		}
	}
	return resp, err
}

func (c *Conversation) reply(ctx context.Context, req *localv1.ReplyRequest, atts *[]*postv1.Attachment) (*localv1.ReplyResponse, error) {
	if strings.TrimSpace(req.GetText()) == "" {
		return nil, status.Error(codes.InvalidArgument, "a reply needs some text")
	}
	if n := len(req.GetAttachmentPaths()); n > post.MaxReplyAttachments {
		return nil, status.Errorf(codes.InvalidArgument, "%d files; a reply carries at most %d", n, post.MaxReplyAttachments)
	}
	p, err := c.findPost(req.GetPostId())
	if err != nil {
		return nil, err
	}
	for _, path := range req.GetAttachmentPaths() {
		att, err := c.l.attachUpTo(path, post.MaxReplyAttachmentSize)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		*atts = append(*atts, att)
	}
	me, err := c.me()
	if err != nil {
		return nil, err
	}
	ms, err := c.mentions(req.GetText())
	if err != nil {
		return nil, grpcError(err)
	}
	host := identity.PublicKey(p.Payload.GetAuthor())
	env, r, err := post.SealReplyAs(me.Key, me.Person, me.Certificate, post.ReplyDraft{Now: time.Now(), PostAuthor: host, PostID: p.ID(), Text: req.GetText(),
		Attachments: *atts, Public: p.Payload.GetVisibility() == postv1.Visibility_VISIBILITY_PUBLIC, Mentions: ms})
	if err != nil {
		return nil, grpcError(err)
	}
	ok, note, err := c.publish(ctx, me, host, store.Record{Envelope: env, Reply: r})
	if err != nil {
		return nil, err
	}
	return &localv1.ReplyResponse{Id: hex.EncodeToString(r.GetId()), Delivered: ok, Note: note}, nil
}

// ownReply finds one of the person's own replies by id.
func (c *Conversation) findReply(hexID string) (store.Record, error) {
	id, err := post.ParseIDString(strings.ToLower(strings.TrimSpace(hexID)))
	if err != nil {
		return store.Record{}, status.Error(codes.InvalidArgument, err.Error())
	}
	rec, err := c.l.st.FindReply(id)
	if err != nil {
		return rec, grpcError(err)
	}
	return rec, nil
}

// changeReply re-signs an own reply with edit applied.
func (c *Conversation) changeReply(ctx context.Context, rec store.Record, me store.Signer, edit func(*post.ReplyDraft)) (bool, string, error) {
	old := rec.Reply
	if old.GetDeleted() {
		return false, "", status.Error(codes.FailedPrecondition, "that reply is deleted")
	}
	d := post.ReplyDraft{ID: post.ID(old.GetId()), Version: old.GetVersion() + 1, Created: time.UnixMilli(old.GetCreatedUnixMs()),
		Now: time.Now(), PostAuthor: identity.PublicKey(old.GetPostAuthor()), PostID: post.ID(old.GetPostId()),
		Text: old.GetText(), Attachments: old.GetAttachments(), Public: old.GetVisibility() == postv1.Visibility_VISIBILITY_PUBLIC}
	for _, m := range old.GetMentions() {
		d.Mentions = append(d.Mentions, identity.PublicKey(m))
	}
	edit(&d)
	env, r, err := post.SealReplyAs(me.Key, me.Person, me.Certificate, d)
	if err != nil {
		return false, "", grpcError(err)
	}
	return c.publish(ctx, me, d.PostAuthor, store.Record{Envelope: env, Reply: r})
}

// EditReply replaces the text of an own reply.
func (c *Conversation) EditReply(ctx context.Context, req *localv1.EditReplyRequest) (*localv1.EditReplyResponse, error) {
	if strings.TrimSpace(req.GetText()) == "" {
		return nil, status.Error(codes.InvalidArgument, "a reply needs some text (to delete it, use kith reply rm)")
	}
	rec, err := c.findReply(req.GetReplyId())
	if err != nil {
		return nil, err
	}
	me, err := c.me()
	if err != nil {
		return nil, err
	}
	if string(rec.Reply.GetAuthor()) != string(me.Person.Bytes()) {
		return nil, status.Error(codes.PermissionDenied, "only its author can edit a reply")
	}
	ms, err := c.mentions(req.GetText())
	if err != nil {
		return nil, grpcError(err)
	}
	ok, note, err := c.changeReply(ctx, rec, me, func(d *post.ReplyDraft) { d.Text, d.Mentions = req.GetText(), ms })
	if err != nil {
		return nil, err
	}
	return &localv1.EditReplyResponse{Delivered: ok, Note: note}, nil
}

// DeleteReply deletes an own reply, or removes a reply from an own post's conversation.
func (c *Conversation) DeleteReply(ctx context.Context, req *localv1.DeleteReplyRequest) (*localv1.DeleteReplyResponse, error) {
	rec, err := c.findReply(req.GetReplyId())
	if err != nil {
		return nil, err
	}
	me, err := c.me()
	if err != nil {
		return nil, err
	}
	mine := me.Person
	switch {
	case string(rec.Reply.GetAuthor()) == string(mine[:]):
		ok, note, err := c.changeReply(ctx, rec, me, func(d *post.ReplyDraft) { d.Text, d.Attachments, d.Mentions, d.Deleted = "", nil, nil, true })
		if err != nil {
			return nil, err
		}
		return &localv1.DeleteReplyResponse{Delivered: ok, Note: note}, nil
	case string(rec.Reply.GetPostAuthor()) == string(mine[:]):
		if err := c.l.st.RemoveReply(post.ID(rec.Reply.GetPostId()), identity.PublicKey(rec.Reply.GetAuthor()), post.ID(rec.Reply.GetId())); err != nil {
			return nil, grpcError(err)
		}
		return &localv1.DeleteReplyResponse{Removed: true, Delivered: true}, nil
	}
	return nil, status.Error(codes.PermissionDenied, store.ErrNotYours.Error())
}

// React sets or withdraws the person's reaction to a post.
func (c *Conversation) React(ctx context.Context, req *localv1.ReactRequest) (*localv1.ReactResponse, error) {
	if req.GetEmoji() != "" && !post.IsEmoji(req.GetEmoji()) {
		return nil, status.Errorf(codes.InvalidArgument, "%q is not a single emoji", req.GetEmoji())
	}
	p, err := c.findPost(req.GetPostId())
	if err != nil {
		return nil, err
	}
	me, err := c.me()
	if err != nil {
		return nil, err
	}
	host := identity.PublicKey(p.Payload.GetAuthor())
	old, err := c.l.st.Reaction(host, p.ID(), me.Person)
	if err != nil {
		return nil, grpcError(err)
	}
	if req.GetEmoji() == "" && (old == nil || old.GetEmoji() == "") {
		return nil, status.Error(codes.FailedPrecondition, "you have no reaction to this post")
	}
	env, r, err := post.SealReactionAs(me.Key, me.Person, me.Certificate, post.ReactionDraft{PostAuthor: host, PostID: p.ID(), Version: old.GetVersion() + 1,
		Now: time.Now(), Emoji: req.GetEmoji(), Public: p.Payload.GetVisibility() == postv1.Visibility_VISIBILITY_PUBLIC})
	if err != nil {
		return nil, grpcError(err)
	}
	ok, note, err := c.publish(ctx, me, host, store.Record{Envelope: env, Reaction: r})
	if err != nil {
		return nil, err
	}
	return &localv1.ReactResponse{Delivered: ok, Note: note}, nil
}

// Thread returns a post and its conversation: every reply oldest first, or with a
// limit the newest limit replies older than before (a page; next_before leads on).
func (c *Conversation) Thread(ctx context.Context, req *localv1.ThreadRequest) (*localv1.ThreadResponse, error) {
	before, err := parseCursor(req.GetBefore())
	if err != nil {
		return nil, err
	}
	p, err := c.findPost(req.GetPostId())
	if err != nil {
		return nil, err
	}
	names, err := c.l.names()
	if err != nil {
		return nil, grpcError(err)
	}
	recs, err := c.l.st.Thread(identity.PublicKey(p.Payload.GetAuthor()), p.ID())
	if err != nil {
		return nil, grpcError(err)
	}
	me, err := c.me()
	if err != nil {
		return nil, err
	}
	resp := &localv1.ThreadResponse{Post: c.l.toTimelinePost(p, names)}
	var replies []store.Record
	for _, r := range recs {
		if r.Reply != nil {
			replies = append(replies, r)
		}
	}
	// (time, id, author) orders any two replies, so an unstable sort gives one order.
	slices.SortFunc(replies, func(a, b store.Record) int {
		return cmp.Or(cmp.Compare(a.Reply.GetCreatedUnixMs(), b.Reply.GetCreatedUnixMs()), bytes.Compare(a.Reply.GetId(), b.Reply.GetId()),
			bytes.Compare(a.Reply.GetAuthor(), b.Reply.GetAuthor()))
	})
	resp.Reactions = summarize(recs, me.Person)
	resp.Post.ReplyCount = uint32(len(replies))
	resp.Post.Reactions = resp.Reactions
	if before != nil {
		// Oldest first: the replies older than the cursor are a prefix.
		n, _ := slices.BinarySearchFunc(replies, *before, func(r store.Record, c cursor) int {
			return -c.compare(r.Reply.GetCreatedUnixMs(), r.Reply.GetId())
		})
		replies = replies[:n]
	}
	if n := int(req.GetLimit()); n > 0 && len(replies) > n {
		replies = replies[len(replies)-n:]
		first := replies[0].Reply
		resp.NextBefore = cursor{ms: first.GetCreatedUnixMs(), id: post.ID(first.GetId())}.String()
	}
	ids := idCache{}
	resp.Replies = make([]*localv1.ThreadReply, 0, len(replies))
	for _, r := range replies {
		resp.Replies = append(resp.Replies, c.threadReply(r, names, ids))
	}
	return resp, nil
}

// idCache keeps the IDs of keys already seen: a thread of 10,000 replies has few
// authors, and encoding an ID (base32 and check characters) for each reply was a fifth
// of the thread's cost.
type idCache map[identity.PublicKey]string

func (ids idCache) of(k []byte) string {
	pk := identity.PublicKey(k)
	id, ok := ids[pk]
	if !ok {
		id = string(pk.ID())
		ids[pk] = id
	}
	return id
}

// threadReply is one reply as a thread shows it.
func (c *Conversation) threadReply(r store.Record, names map[string]string, ids idCache) *localv1.ThreadReply {
	author := ids.of(r.Reply.GetAuthor())
	tr := &localv1.ThreadReply{Id: hex.EncodeToString(r.Reply.GetId()), Author: author, AuthorName: names[author],
		CreatedUnixMs: r.Reply.GetCreatedUnixMs(), UpdatedUnixMs: r.Reply.GetUpdatedUnixMs(), Text: r.Reply.GetText(), Pending: r.Pending}
	for _, m := range r.Reply.GetMentions() {
		tr.Mentions = append(tr.Mentions, ids.of(m))
	}
	if len(r.Reply.GetAttachments()) > 0 {
		tr.Attachments = c.l.attachments(r.Reply.GetAttachments())
	}
	return tr
}

// summarize groups reactions by emoji, the most frequent first.
func summarize(recs []store.Record, me identity.PublicKey) []*localv1.ReactionSummary {
	by := map[string]*localv1.ReactionSummary{}
	var out []*localv1.ReactionSummary
	for _, r := range recs {
		if r.Reaction == nil || r.Reaction.GetEmoji() == "" {
			continue
		}
		e := r.Reaction.GetEmoji()
		s, ok := by[e]
		if !ok {
			s = &localv1.ReactionSummary{Emoji: e}
			by[e] = s
			out = append(out, s)
		}
		s.Count++
		author := identity.PublicKey(r.Reaction.GetAuthor())
		s.By = append(s.By, string(author.ID()))
		s.Mine = s.Mine || author == me
	}
	slices.SortStableFunc(out, func(a, b *localv1.ReactionSummary) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Emoji, b.Emoji))
	})
	return out
}

// withConversation fills in a timeline post's reply count and reactions.
func (l *Local) withConversation(tp *localv1.TimelinePost, author identity.PublicKey, id post.ID) {
	recs, err := l.st.Thread(author, id)
	if err != nil || len(recs) == 0 {
		return
	}
	for _, r := range recs {
		if r.Reply != nil {
			tp.ReplyCount++
		}
	}
	if k, err := l.st.Self(); err == nil {
		tp.Reactions = summarize(recs, k)
	}
}

// Notifications lists notifications, newest first.
func (c *Conversation) Notifications(ctx context.Context, req *localv1.NotificationsRequest) (*localv1.NotificationsResponse, error) {
	notes, unread, err := c.l.st.Notes(req.GetAll())
	if err != nil {
		return nil, grpcError(err)
	}
	names, err := c.l.names()
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &localv1.NotificationsResponse{Unread: uint32(unread)}
	for _, n := range notes {
		ln := &localv1.Notification{Id: strconv.FormatUint(n.ID, 10), Kind: string(n.Kind), From: string(n.From.ID()),
			FromName: names[string(n.From.ID())], Text: n.Text, CreatedUnixMs: n.Created.UnixMilli(), Read: n.Read}
		if n.PostID != (post.ID{}) {
			ln.PostId = n.PostID.String()
		}
		if n.ReplyID != (post.ID{}) {
			ln.ReplyId = n.ReplyID.String()
		}
		resp.Notifications = append(resp.Notifications, ln)
	}
	return resp, nil
}

// MarkRead marks notifications read.
func (c *Conversation) MarkRead(ctx context.Context, req *localv1.MarkReadRequest) (*localv1.MarkReadResponse, error) {
	var ids []uint64
	for _, s := range req.GetIds() {
		id, err := strconv.ParseUint(s, 10, 64)
		if err != nil || id == 0 {
			return nil, status.Errorf(codes.InvalidArgument, "%q is not a notification id (see kith notifications)", s)
		}
		ids = append(ids, id)
	}
	n, err := c.l.st.MarkRead(ids)
	if err != nil {
		return nil, grpcError(err)
	}
	return &localv1.MarkReadResponse{Marked: uint32(n)}, nil
}

// convoError maps the store's conversation errors for the local API.
func convoError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNoSuchPost):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, store.ErrNotYours):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, store.ErrRemoved), errors.Is(err, store.ErrBlobMissing):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, store.ErrConversationFull):
		return status.Error(codes.ResourceExhausted, err.Error())
	}
	return grpcError(err)
}
