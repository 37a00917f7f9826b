package daemon

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/store"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// PublicSource is the store as the public HTTP face sees it: the person's own posts that
// are public now, or were once (so they can answer 410 Gone). See public.Source.
type PublicSource struct {
	st *store.Store
}

// NewPublicSource returns the public face's view of st.
func NewPublicSource(st *store.Store) *PublicSource { return &PublicSource{st: st} }

// Profile returns the person's ID, and their name and follow list when they published
// them (kith profile); nothing else of their friends.
func (p *PublicSource) Profile(ctx context.Context) (public.Profile, error) {
	pp, err := p.st.PublicProfile()
	if err != nil {
		return public.Profile{}, err
	}
	out := public.Profile{ID: pp.Owner, Name: pp.Name}
	for _, f := range pp.Follows {
		out.Follows = append(out.Follows, f.Key)
	}
	return out, nil
}

// everPublic lists the own posts some version of which was public, newest first.
func (p *PublicSource) everPublic() ([]store.Stored, error) {
	self, err := p.st.Self()
	if err != nil {
		return nil, err
	}
	var out []store.Stored
	err = p.st.Posts(&self, func(s store.Stored) bool {
		if s.EverPublic || isPublic(s.Payload) {
			out = append(out, s)
		}
		return true
	})
	slices.SortFunc(out, func(a, b store.Stored) int { return -compareAge(a.Payload, b.Payload) })
	return out, err
}

// compareAge orders posts by creation time, then id: the public face's order.
func compareAge(a, b *postv1.Payload) int {
	return cmp.Or(cmp.Compare(a.GetCreatedUnixMs(), b.GetCreatedUnixMs()), slices.Compare(a.GetId(), b.GetId()))
}

func isPublic(pl *postv1.Payload) bool {
	return pl.GetVisibility() == postv1.Visibility_VISIBILITY_PUBLIC && !pl.GetDeleted()
}

// cursorPattern is "<created ms>-<id hex>": the last post of the previous page.
var cursorPattern = regexp.MustCompile(`^([0-9]{1,19})-([0-9a-f]{32})$`)

// PublicPosts pages through public posts, newest first.
func (p *PublicSource) PublicPosts(ctx context.Context, q public.Query) (public.Page, error) {
	var after *postv1.Payload
	if q.After != "" {
		m := cursorPattern.FindStringSubmatch(q.After)
		if m == nil {
			return public.Page{}, public.ErrBadCursor
		}
		ms, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			return public.Page{}, public.ErrBadCursor
		}
		id, _ := hex.DecodeString(m[2])
		after = &postv1.Payload{CreatedUnixMs: ms, Id: id}
	}
	all, err := p.everPublic()
	if err != nil {
		return public.Page{}, err
	}
	var page public.Page
	for _, s := range all {
		page.Modified = maxTime(page.Modified, time.UnixMilli(s.Payload.GetUpdatedUnixMs()))
		if !isPublic(s.Payload) || q.Tag != "" && !slices.Contains(s.Payload.GetHashtags(), q.Tag) {
			continue
		}
		if after != nil && compareAge(s.Payload, after) >= 0 {
			continue
		}
		if len(page.Posts) == q.Limit {
			last := page.Posts[len(page.Posts)-1].Payload
			page.Next = fmt.Sprintf("%d-%x", last.GetCreatedUnixMs(), last.GetId())
			continue // keep scanning for Modified
		}
		page.Posts = append(page.Posts, public.Post{Envelope: s.Envelope, Payload: s.Payload})
	}
	return page, nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// PublicPost returns a public post, ErrGone for one that was public once, ErrNotFound else.
func (p *PublicSource) PublicPost(ctx context.Context, id public.PostID) (public.Post, error) {
	k, err := p.st.Self()
	if err != nil {
		return public.Post{}, err
	}
	s, err := p.st.Post(k, post.ID(id))
	if errors.Is(err, store.ErrNotFound) {
		return public.Post{}, public.ErrNotFound
	}
	if err != nil {
		return public.Post{}, err
	}
	switch {
	case isPublic(s.Payload):
		return public.Post{Envelope: s.Envelope, Payload: s.Payload}, nil
	case s.EverPublic:
		return public.Post{}, public.ErrGone
	}
	return public.Post{}, public.ErrNotFound
}

// PublicBlob returns a blob that some public post attaches.
func (p *PublicSource) PublicBlob(ctx context.Context, sum [32]byte) (public.Blob, error) {
	all, err := p.everPublic()
	if err != nil {
		return public.Blob{}, err
	}
	for _, s := range all {
		if !isPublic(s.Payload) {
			continue
		}
		for _, a := range s.Payload.GetAttachments() {
			if string(a.GetSha256()) != string(sum[:]) {
				continue
			}
			f, size, err := p.st.OpenBlob(sum[:])
			if errors.Is(err, store.ErrNotFound) {
				return public.Blob{}, public.ErrNotFound
			}
			if err != nil {
				return public.Blob{}, err
			}
			var mod time.Time
			if st, err := f.Stat(); err == nil {
				mod = st.ModTime()
			}
			return public.Blob{Content: f, Size: int64(size), MediaType: a.GetMediaType(), ModTime: mod}, nil
		}
	}
	return public.Blob{}, public.ErrNotFound
}

// DeviceRevocations gives the revocations this home holds for person, so the public
// face checks a device-signed reply's chain (public.RevocationSource).
func (p *PublicSource) DeviceRevocations(_ context.Context, person identity.PublicKey) ([]device.Revocation, error) {
	return p.st.Revocations(person)
}

// PublicReplies returns the public replies to a post while it is public: the records a
// stranger may be served (public.ReplySource).
func (p *PublicSource) PublicReplies(ctx context.Context, id public.PostID) ([]*signedv1.Envelope, error) {
	var out []*signedv1.Envelope
	err := p.st.Conversation(identity.PublicKey{}, post.ID(id), 1000, func(recs []store.Record) error {
		for _, r := range recs {
			if r.Reply != nil && !r.Reply.GetDeleted() {
				out = append(out, r.Envelope)
			}
		}
		return nil
	})
	if errors.Is(err, store.ErrNoSuchPost) {
		return nil, nil
	}
	return out, err
}
