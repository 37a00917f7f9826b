package daemon

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/transport"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Errors of the local API a caller may test for.
var (
	// ErrEmptyPost means a new post has neither text (beyond white space) nor attachments.
	ErrEmptyPost = errors.New("the post is empty: write some text (or attach a file)")
	// ErrEmptyEdit means an edit would leave a post without text; deleting is 'kith rm'.
	ErrEmptyEdit = errors.New("the new text is empty: to delete the post, delete it")
)

// Local serves kith.local.v1: what the kith CLI (and the web app) ask of the daemon.
type Local struct {
	localv1.UnimplementedLocalServiceServer
	st     *store.Store
	node   *Node
	status func() *localv1.RendezvousStatus
	synced *SyncTimes

	mu        sync.Mutex           // guards removedBy and friendly
	removedBy map[identity.ID]bool // friends whose nodes stopped counting this one as a friend
	friendly  map[identity.ID]bool // friends whose nodes answered a sync as to a friend
}

// NewLocal returns the local API over a store and its running node. status reports the
// rendezvous state; nil means direct mode.
func NewLocal(st *store.Store, node *Node, synced *SyncTimes, status func() *localv1.RendezvousStatus) *Local {
	if status == nil {
		status = node.RendezvousStatus
	}
	return &Local{st: st, node: node, status: status, synced: synced,
		removedBy: map[identity.ID]bool{}, friendly: map[identity.ID]bool{}}
}

// Status reports identity, rendezvous and live connections.
func (l *Local) Status(ctx context.Context, _ *localv1.StatusRequest) (*localv1.StatusResponse, error) {
	k, err := l.st.Self()
	if err != nil {
		return nil, grpcError(err)
	}
	names := map[identity.ID]string{}
	fs, _ := l.st.Friends()
	for _, f := range fs {
		names[f.Key.ID()] = f.Name
	}
	me, _ := l.st.Name()
	resp := &localv1.StatusResponse{Id: string(k.ID()), Name: me, Rendezvous: l.status(), ListenAddress: l.node.Addr().String()}
	for _, p := range onePerPeer(l.node.Peers()) {
		if l.isRemovedBy(p.ID) {
			continue
		}
		resp.Peers = append(resp.Peers, &localv1.PeerStatus{Id: string(p.ID), Name: names[p.ID], Path: p.Path,
			Remote: p.Remote, Local: p.Local, LastSyncUnixMs: l.synced.Get(p.ID)})
	}
	slices.SortFunc(resp.Peers, func(a, b *localv1.PeerStatus) int { return cmp.Compare(a.Id, b.Id) })
	if resp.Carry, err = l.node.carryStatus(names); err != nil {
		return nil, grpcError(err)
	}
	slices.SortFunc(resp.Carry.Friends, func(a, b *localv1.CarriedFor) int { return cmp.Compare(a.Id, b.Id) })
	return resp, nil
}

// onePerPeer keeps one live connection per peer, in first-seen order: a direct one
// where the peer has one, else the first. Two finds crossing (each side syncing the
// other at once) can leave a peer with a direct and a relayed connection, listed in no
// particular order; status names the path a person would want to see, the direct one.
func onePerPeer(ps []transport.Peer) []transport.Peer {
	at := map[identity.ID]int{}
	var out []transport.Peer
	for _, p := range ps {
		i, ok := at[p.ID]
		switch {
		case !ok:
			at[p.ID] = len(out)
			out = append(out, p)
		case out[i].Path != transport.Direct && p.Path == transport.Direct:
			out[i] = p
		}
	}
	return out
}

// AddFriend adds a friend or updates the given fields of a known one.
func (l *Local) AddFriend(ctx context.Context, req *localv1.AddFriendRequest) (*localv1.AddFriendResponse, error) {
	in := req.GetFriend()
	k, err := identity.ParseID(in.GetId())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	self, err := l.st.Self()
	if err != nil {
		return nil, grpcError(err)
	}
	if k == self {
		return nil, status.Error(codes.InvalidArgument, "that is your own ID; a friend's ID is what 'kith id' prints on their machine")
	}
	f, err := l.st.Friend(k)
	created := errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrNotFriend)
	if err != nil && !created {
		return nil, grpcError(err)
	}
	f.Key = k
	if in.GetName() != "" {
		f.Name = in.GetName()
	}
	if in.GetAddress() != "" {
		f.Addr = in.GetAddress()
	}
	for _, g := range in.GetGroups() {
		if err := store.CheckGroupName(g); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		if !slices.Contains(f.Groups, g) {
			f.Groups = append(f.Groups, g)
		}
	}
	if err := store.CheckFriend(f); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	for _, g := range f.Groups {
		if err := l.st.AddGroup(g); err != nil {
			return nil, grpcError(err)
		}
	}
	if err := l.st.PutFriend(f); err != nil {
		return nil, grpcError(err)
	}
	l.node.Wake()
	return &localv1.AddFriendResponse{Friend: friendProto(f), Created: created}, nil
}

// ListFriends lists friends by name, then ID.
func (l *Local) ListFriends(ctx context.Context, _ *localv1.ListFriendsRequest) (*localv1.ListFriendsResponse, error) {
	fs, err := l.st.Friends()
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &localv1.ListFriendsResponse{}
	for _, f := range fs {
		resp.Friends = append(resp.Friends, friendProto(f))
	}
	slices.SortFunc(resp.Friends, func(a, b *localv1.Friend) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), cmp.Compare(a.Id, b.Id))
	})
	return resp, nil
}

// RemoveFriend removes a friend.
func (l *Local) RemoveFriend(ctx context.Context, req *localv1.RemoveFriendRequest) (*localv1.RemoveFriendResponse, error) {
	k, err := identity.ParseID(req.GetId())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if _, err := l.st.Friend(k); err != nil {
		return nil, grpcError(fmt.Errorf("%s is not one of your friends: %w", req.GetId(), err))
	}
	defer l.node.Reregister() // the reachability key rotated: shut the removed friend out now
	if err := l.st.RemoveFriend(k); err != nil {
		return nil, grpcError(err)
	}
	return &localv1.RemoveFriendResponse{}, nil
}

// ListGroups lists groups with their members.
func (l *Local) ListGroups(ctx context.Context, _ *localv1.ListGroupsRequest) (*localv1.ListGroupsResponse, error) {
	gs, err := l.st.Groups()
	if err != nil {
		return nil, grpcError(err)
	}
	fs, err := l.st.Friends()
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &localv1.ListGroupsResponse{}
	for _, g := range gs {
		resp.Groups = append(resp.Groups, groupProto(g, fs))
	}
	return resp, nil
}

// UpdateGroup adds members to a group (creating it) or removes them.
func (l *Local) UpdateGroup(ctx context.Context, req *localv1.UpdateGroupRequest) (*localv1.UpdateGroupResponse, error) {
	name := req.GetName()
	if err := store.CheckGroupName(name); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	var changes []store.Friend
	for i, ids := range [][]string{req.GetAdd(), req.GetRemove()} {
		for _, id := range ids {
			k, err := identity.ParseID(id)
			if err != nil {
				return nil, status.Error(codes.InvalidArgument, err.Error())
			}
			f, err := l.st.Friend(k)
			if err != nil {
				return nil, grpcError(fmt.Errorf("%s is not one of your friends: %w", id, err))
			}
			f.Groups = slices.DeleteFunc(f.Groups, func(g string) bool { return g == name })
			if i == 0 {
				f.Groups = append(f.Groups, name)
			}
			changes = append(changes, f)
		}
	}
	newly, err := l.newlyVisible(changes)
	if err != nil {
		return nil, grpcError(err)
	}
	if req.GetDryRun() {
		fs, err := l.st.Friends()
		if err != nil {
			return nil, grpcError(err)
		}
		g := groupProto(name, fs)
		for _, f := range changes {
			if id := string(f.Key.ID()); slices.Contains(f.Groups, name) && !slices.Contains(g.MemberIds, id) {
				g.MemberIds = append(g.MemberIds, id)
			} else if !slices.Contains(f.Groups, name) {
				g.MemberIds = slices.DeleteFunc(g.MemberIds, func(m string) bool { return m == id })
			}
		}
		return &localv1.UpdateGroupResponse{Group: g, NewlyVisible: uint32(newly)}, nil
	}
	if err := l.st.AddGroup(name); err != nil {
		return nil, grpcError(err)
	}
	for _, f := range changes {
		if err := l.st.PutFriend(f); err != nil {
			return nil, grpcError(err)
		}
	}
	fs, err := l.st.Friends()
	if err != nil {
		return nil, grpcError(err)
	}
	return &localv1.UpdateGroupResponse{Group: groupProto(name, fs), NewlyVisible: uint32(newly)}, nil
}

// newlyVisible counts, over the friends whose groups change, the own live posts each
// could not see before the change and can after it.
func (l *Local) newlyVisible(changes []store.Friend) (int, error) {
	self, err := l.st.Self()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, after := range changes {
		before, err := l.st.Friend(after.Key)
		if err != nil {
			return 0, err
		}
		was := feed.Viewer{Key: after.Key, Friend: true, Groups: before.Groups}
		will := feed.Viewer{Key: after.Key, Friend: true, Groups: after.Groups}
		err = l.st.Posts(&self, func(p store.Stored) bool {
			if !p.Payload.GetDeleted() && !feed.Visible(p.Audience, was) && feed.Visible(p.Audience, will) {
				n++
			}
			return true
		})
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}

// CreatePost stores the attachments, then signs and stores the post.
func (l *Local) CreatePost(ctx context.Context, req *localv1.CreatePostRequest) (*localv1.CreatePostResponse, error) {
	if strings.TrimSpace(req.GetText()) == "" && len(req.GetAttachmentPaths()) == 0 {
		return nil, status.Error(codes.InvalidArgument, ErrEmptyPost.Error())
	}
	a, err := audience(req.GetAudience())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	var atts []*postv1.Attachment
	for _, path := range req.GetAttachmentPaths() {
		att, err := l.attach(path)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		atts = append(atts, att)
	}
	ms, err := mentionsIn(l.st, req.GetText())
	if err != nil {
		return nil, grpcError(err)
	}
	id, err := l.st.Publish(store.NewPost{Text: req.GetText(), Attachments: atts, Audience: a, Mentions: ms})
	if err != nil {
		return nil, grpcError(err)
	}
	p, err := l.timelinePost(id)
	if err != nil {
		return nil, grpcError(err)
	}
	return &localv1.CreatePostResponse{Post: p}, nil
}

// attach stores a file as a blob, streamed, and describes it.
func (l *Local) attach(path string) (*postv1.Attachment, error) {
	return l.attachUpTo(path, post.MaxAttachmentSize)
}

// attachUpTo is attach for files of at most limit bytes (a reply's are smaller).
func (l *Local) attachUpTo(path string, limit int64) (*postv1.Attachment, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("attach %s: the daemon needs an absolute path", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("attach: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("attach: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("attach %s: not a regular file", path)
	}
	if info.Size() > limit {
		return nil, fmt.Errorf("attach %s: %d bytes; the limit is %s", path, info.Size(), sizeText(limit))
	}
	att, err := l.st.PutFile(f, path)
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", path, err)
	}
	att.FileName = filepath.Base(path)
	att.MediaType = mediaType(f, path)
	return att, nil
}

// mediaTypes covers the photo, video and audio extensions that the system's MIME table
// (Go's own, plus /etc/mime.types when there is one) may not know.
var mediaTypes = map[string]string{
	".mp4": "video/mp4", ".m4v": "video/mp4", ".webm": "video/webm", ".mov": "video/quicktime",
	".ogv": "video/ogg", ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".wav": "audio/wav",
	".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg", ".flac": "audio/flac",
	".heic": "image/heic", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
	".gif": "image/gif", ".webp": "image/webp",
}

// mediaType names a file's type from its extension, or from its first bytes when the
// extension says nothing.
func mediaType(f *os.File, path string) string {
	ext := strings.ToLower(filepath.Ext(path))
	if t := mediaTypes[ext]; t != "" {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	head := make([]byte, 512)
	n, _ := f.ReadAt(head, 0)
	return http.DetectContentType(head[:n])
}

// EditPost replaces an own post's text.
func (l *Local) EditPost(ctx context.Context, req *localv1.EditPostRequest) (*localv1.EditPostResponse, error) {
	id, err := post.ParseIDString(req.GetPostId())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if strings.TrimSpace(req.GetText()) == "" {
		return nil, status.Error(codes.InvalidArgument, ErrEmptyEdit.Error())
	}
	ms, err := mentionsIn(l.st, req.GetText())
	if err != nil {
		return nil, grpcError(err)
	}
	if err := l.st.Edit(id, req.GetText(), ms...); err != nil {
		return nil, grpcError(err)
	}
	p, err := l.timelinePost(id)
	if err != nil {
		return nil, grpcError(err)
	}
	return &localv1.EditPostResponse{Post: p}, nil
}

// DeletePost replaces an own post with a signed tombstone.
func (l *Local) DeletePost(ctx context.Context, req *localv1.DeletePostRequest) (*localv1.DeletePostResponse, error) {
	id, err := post.ParseIDString(req.GetPostId())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := l.st.Delete(id); err != nil {
		return nil, grpcError(err)
	}
	return &localv1.DeletePostResponse{}, nil
}

// Timeline lists live posts, own and friends', newest first.
func (l *Local) Timeline(ctx context.Context, req *localv1.TimelineRequest) (*localv1.TimelineResponse, error) {
	var author *identity.PublicKey
	if req.GetFromId() != "" {
		k, err := identity.ParseID(req.GetFromId())
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		author = &k
	}
	names, err := l.names()
	if err != nil {
		return nil, grpcError(err)
	}
	before, err := parseCursor(req.GetBefore())
	if err != nil {
		return nil, err
	}
	// Order (newest first, by time then id) and page the stored posts first, so that
	// only the page shown pays for its conversations and attachments.
	var held []store.Stored
	err = l.st.Posts(author, func(p store.Stored) bool {
		pl := p.Payload
		if pl.GetDeleted() || req.GetTag() != "" && !slices.Contains(pl.GetHashtags(), req.GetTag()) {
			return true
		}
		if before != nil && before.compare(pl.GetCreatedUnixMs(), pl.GetId()) <= 0 {
			return true // not older than the previous page's last post
		}
		held = append(held, p)
		return true
	})
	if err != nil {
		return nil, grpcError(err)
	}
	slices.SortStableFunc(held, func(a, b store.Stored) int {
		return cmp.Or(cmp.Compare(b.Payload.GetCreatedUnixMs(), a.Payload.GetCreatedUnixMs()), bytes.Compare(b.Payload.GetId(), a.Payload.GetId()))
	})
	resp := &localv1.TimelineResponse{}
	if n := int(req.GetLimit()); n > 0 && len(held) > n {
		held = held[:n]
		last := held[n-1].Payload
		resp.NextBefore = cursor{ms: last.GetCreatedUnixMs(), id: post.ID(last.GetId())}.String()
	}
	for _, p := range held {
		resp.Posts = append(resp.Posts, l.toTimeline(p, names))
	}
	return resp, nil
}

// names maps author IDs to what the person calls them; their own name for themselves.
func (l *Local) names() (map[string]string, error) {
	names := map[string]string{}
	fs, err := l.st.Friends()
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		names[string(f.Key.ID())] = f.Name
	}
	k, err := l.st.Self()
	if err != nil {
		return nil, err
	}
	me, _ := l.st.Name()
	names[string(k.ID())] = cmp.Or(me, "me")
	return names, nil
}

func (l *Local) timelinePost(id post.ID) (*localv1.TimelinePost, error) {
	k, err := l.st.Self()
	if err != nil {
		return nil, err
	}
	p, err := l.st.Post(k, id)
	if err != nil {
		return nil, err
	}
	names, err := l.names()
	if err != nil {
		return nil, err
	}
	return l.toTimeline(p, names), nil
}

func (l *Local) toTimeline(p store.Stored, names map[string]string) *localv1.TimelinePost {
	tp := l.toTimelinePost(p, names)
	l.withConversation(tp, identity.PublicKey(p.Payload.GetAuthor()), p.ID())
	return tp
}

// toTimelinePost is toTimeline without the conversation's counts (a thread counts its
// own).
func (l *Local) toTimelinePost(p store.Stored, names map[string]string) *localv1.TimelinePost {
	pl := p.Payload
	author, _ := identity.PublicKeyFromBytes(pl.GetAuthor())
	vis := "private"
	if pl.GetVisibility() == postv1.Visibility_VISIBILITY_PUBLIC {
		vis = "public"
	}
	tp := &localv1.TimelinePost{
		Id: hex.EncodeToString(pl.GetId()), Author: string(author.ID()), Name: names[string(author.ID())],
		Text: pl.GetText(), Tags: pl.GetHashtags(), Visibility: vis, Version: pl.GetVersion(),
		CreatedUnixMs: pl.GetCreatedUnixMs(), UpdatedUnixMs: pl.GetUpdatedUnixMs(),
		Audience: audienceText(p, vis == "public", names),
	}
	tp.Attachments = l.attachments(pl.GetAttachments())
	for _, m := range pl.GetMentions() {
		tp.Mentions = append(tp.Mentions, string(identity.PublicKey(m).ID()))
	}
	return tp
}

// Sync pulls from one friend or all, and reports each.
func (l *Local) Sync(ctx context.Context, req *localv1.SyncRequest) (*localv1.SyncResponse, error) {
	var friends []store.Friend
	if req.GetFriendId() != "" {
		k, err := identity.ParseID(req.GetFriendId())
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		f, err := l.st.Friend(k)
		if err != nil {
			return nil, grpcError(fmt.Errorf("%s is not one of your friends: %w", req.GetFriendId(), err))
		}
		friends = []store.Friend{f}
	} else {
		fs, err := l.st.Friends()
		if err != nil {
			return nil, grpcError(err)
		}
		friends = fs
	}
	resp := &localv1.SyncResponse{}
	for _, f := range friends {
		id := f.Key.ID()
		r := &localv1.SyncResult{FriendId: string(id)}
		live := l.synced.Untold(id)
		res, err := l.node.Sync(ctx, f)
		// What this pull stored is counted by Untold too (unless the node's progress hook
		// missed it); what is beyond it arrived live while the pull ran.
		if during := l.synced.Untold(id); during > uint64(res.Stored) {
			live += during - uint64(res.Stored)
		}
		r.Live = uint32(live)
		if err != nil {
			r.Error = err.Error()
		} else {
			l.synced.Mark(id)
			r.Pulled, r.Revoked, r.Path = uint32(res.Stored), uint32(res.Dropped), l.path(id)
			r.Carried, r.Refused = carriedResults(res.Carry, l.friendNames())
			r.Removed = l.noteRelation(id, res.Stranger)
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}

// friendNames maps friends' IDs to their local names.
func (l *Local) friendNames() map[identity.ID]string {
	names := map[identity.ID]string{}
	fs, _ := l.st.Friends()
	for _, f := range fs {
		names[f.Key.ID()] = f.Name
	}
	return names
}

// noteRelation records how a friend's node answered a sync and reports whether it removed
// this person: it answers as to a stranger after having answered as to a friend. (A node
// that never counted this person as a friend has not added them yet; that is no news.)
// A friend who removed this person stops showing as connected.
func (l *Local) noteRelation(id identity.ID, stranger bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !stranger {
		l.friendly[id] = true
		delete(l.removedBy, id)
		return false
	}
	if l.friendly[id] || l.removedBy[id] {
		l.removedBy[id] = true
		delete(l.friendly, id)
		return true
	}
	return false
}

func (l *Local) isRemovedBy(id identity.ID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.removedBy[id]
}

// path is how the node reaches a friend now, or how its last sync did: "direct" or "relay".
func (l *Local) path(id identity.ID) string {
	for _, p := range l.node.Peers() {
		if p.ID == id {
			return p.Path
		}
	}
	return l.node.lastPath(id)
}

// SyncProgress reports what pulls have stored per friend since the daemon started.
func (l *Local) SyncProgress(ctx context.Context, _ *localv1.SyncProgressRequest) (*localv1.SyncProgressResponse, error) {
	return &localv1.SyncProgressResponse{Friends: l.synced.Progress()}, nil
}

// ExportKey returns the identity seed, for an encrypted key backup.
func (l *Local) ExportKey(ctx context.Context, _ *localv1.ExportKeyRequest) (*localv1.ExportKeyResponse, error) {
	k, err := l.st.Key()
	if err != nil {
		return nil, grpcError(err)
	}
	return &localv1.ExportKeyResponse{Seed: k.Seed()}, nil
}

func audience(in []*localv1.Audience) (feed.Audience, error) {
	var a feed.Audience
	for _, e := range in {
		switch e.GetKind() {
		case localv1.AudienceKind_AUDIENCE_KIND_ME:
			a.Me = true
		case localv1.AudienceKind_AUDIENCE_KIND_FRIENDS:
			a.Friends = true
		case localv1.AudienceKind_AUDIENCE_KIND_PUBLIC:
			a.Public = true
		case localv1.AudienceKind_AUDIENCE_KIND_GROUP:
			a.Groups = append(a.Groups, e.GetGroup())
		case localv1.AudienceKind_AUDIENCE_KIND_FRIEND:
			k, err := identity.ParseID(e.GetFriendId())
			if err != nil {
				return a, err
			}
			a.People = append(a.People, k.ID())
		default:
			return a, fmt.Errorf("audience kind %v is not known", e.GetKind())
		}
	}
	if a.IsZero() {
		return feed.Default(), nil
	}
	return a, nil
}

// audienceText says who a post went to, for a person. An own post's audience is the
// author's local metadata; of a friend's post this node knows only that it is public or
// that it reached "you".
func audienceText(p store.Stored, public bool, names map[string]string) string {
	a := p.Audience
	if a.IsZero() {
		if public {
			return "public"
		}
		return "you"
	}
	var parts []string
	if a.Public {
		parts = append(parts, "public")
	}
	if a.Friends {
		parts = append(parts, "friends")
	}
	for _, g := range a.Groups {
		parts = append(parts, "group "+g)
	}
	for _, id := range a.People {
		parts = append(parts, cmp.Or(names[string(id)], string(id)))
	}
	if len(parts) == 0 {
		parts = append(parts, "me")
	}
	return strings.Join(parts, ", ")
}

func friendProto(f store.Friend) *localv1.Friend {
	return &localv1.Friend{Id: string(f.Key.ID()), Name: f.Name, Address: f.Addr, Groups: f.Groups}
}

func groupProto(name string, fs []store.Friend) *localv1.Group {
	g := &localv1.Group{Name: name}
	for _, f := range fs {
		if slices.Contains(f.Groups, name) {
			g.MemberIds = append(g.MemberIds, string(f.Key.ID()))
		}
	}
	return g
}

// grpcError is the one place store and feed errors become statuses for the CLI.
func grpcError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNeedIdentity): // a joined device: run it where the identity is
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrNotFriend):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, feed.ErrBadAudience), errors.Is(err, post.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// attachments describes a post's or a reply's attachments, and whether each is here.
func (l *Local) attachments(as []*postv1.Attachment) []*localv1.TimelineAttachment {
	var out []*localv1.TimelineAttachment
	for _, a := range as {
		present, _ := l.st.HasBlob(a.GetSha256())
		out = append(out, &localv1.TimelineAttachment{Sha256: hex.EncodeToString(a.GetSha256()),
			Size: a.GetSize(), MediaType: a.GetMediaType(), FileName: a.GetFileName(), Present: present})
	}
	return out
}

// sizeText says a limit in the unit a person reads it in (1 GiB, 16 MiB).
func sizeText(n int64) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}
