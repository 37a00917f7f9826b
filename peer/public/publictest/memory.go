package publictest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/kithnet/kith/peer/public"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Memory is a public.Source in memory that keeps the contract the way a store must: the
// newest version of each post wins, and whether a post was ever public is remembered. It
// is safe for concurrent use.
type Memory struct {
	mu        sync.Mutex
	profile   public.Profile
	posts     map[public.PostID]public.Post // newest version of each post
	wasPublic map[public.PostID]bool
	blobs     map[[32]byte][]byte
	modified  time.Time
	order     []public.PostID // public posts, newest first; nil when stale
}

// NewMemory returns an empty Source for the person whose key is id.
func NewMemory(id identity.PublicKey) *Memory {
	return &Memory{
		profile: public.Profile{ID: id}, posts: map[public.PostID]public.Post{},
		wasPublic: map[public.PostID]bool{}, blobs: map[[32]byte][]byte{},
	}
}

// SetProfile replaces the published profile; its ID must stay the same.
func (m *Memory) SetProfile(p public.Profile) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.profile = p
}

// Put verifies env and stores it as the newest version of its post, unless a version
// at least as new is already there.
func (m *Memory) Put(env *signedv1.Envelope) (public.Post, error) {
	post, err := public.OpenPost(env)
	if err != nil {
		return post, err
	}
	pl := post.Payload
	m.mu.Lock()
	defer m.mu.Unlock()
	if !bytes.Equal(pl.GetAuthor(), m.profile.ID[:]) {
		return post, fmt.Errorf("put post: not by %s", m.profile.ID.Short())
	}
	id, _ := public.PostIDFromBytes(pl.GetId())
	if old, ok := m.posts[id]; ok && old.Payload.GetVersion() >= pl.GetVersion() {
		return post, fmt.Errorf("put post %s: version %d is not newer than %d", id, pl.GetVersion(), old.Payload.GetVersion())
	}
	m.posts[id] = post
	if live(pl) {
		m.wasPublic[id] = true
	}
	if m.wasPublic[id] {
		if t := time.UnixMilli(pl.GetUpdatedUnixMs()); t.After(m.modified) {
			m.modified = t
		}
	}
	m.order = nil
	return post, nil
}

// PutBlob stores data and returns its address.
func (m *Memory) PutBlob(data []byte) [32]byte {
	sum := sha256.Sum256(data)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blobs[sum] = bytes.Clone(data)
	return sum
}

func live(p *postv1.Payload) bool {
	return p.GetVisibility() == postv1.Visibility_VISIBILITY_PUBLIC && !p.GetDeleted()
}

// Profile implements public.Source.
func (m *Memory) Profile(context.Context) (public.Profile, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.profile, nil
}

// PublicPost implements public.Source.
func (m *Memory) PublicPost(_ context.Context, id public.PostID) (public.Post, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.posts[id]
	switch {
	case ok && live(p.Payload):
		return p, nil
	case m.wasPublic[id]:
		return public.Post{}, fmt.Errorf("post %s: %w", id, public.ErrGone)
	}
	return public.Post{}, fmt.Errorf("post %s: %w", id, public.ErrNotFound)
}

// PublicPosts implements public.Source; a cursor is the id of the last post of a page.
func (m *Memory) PublicPosts(_ context.Context, q public.Query) (public.Page, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sort()
	start := 0
	if q.After != "" {
		id, err := public.ParsePostID(q.After)
		i := slices.Index(m.order, id)
		if err != nil || i < 0 {
			return public.Page{}, fmt.Errorf("cursor %q: %w", q.After, public.ErrBadCursor)
		}
		start = i + 1
	}
	page := public.Page{Modified: m.modified}
	for _, id := range m.order[start:] {
		p := m.posts[id]
		if q.Tag != "" && !slices.Contains(p.Payload.GetHashtags(), q.Tag) {
			continue
		}
		if len(page.Posts) == q.Limit {
			page.Next = public.PostID(page.Posts[len(page.Posts)-1].Payload.GetId()).String()
			break
		}
		page.Posts = append(page.Posts, p)
	}
	return page, nil
}

// sort rebuilds the newest-first order of public posts when it is stale.
func (m *Memory) sort() {
	if m.order != nil {
		return
	}
	m.order = []public.PostID{}
	for id, p := range m.posts {
		if live(p.Payload) {
			m.order = append(m.order, id)
		}
	}
	slices.SortFunc(m.order, func(a, b public.PostID) int {
		pa, pb := m.posts[a].Payload, m.posts[b].Payload
		if c := pb.GetCreatedUnixMs() - pa.GetCreatedUnixMs(); c != 0 {
			return int(c)
		}
		return bytes.Compare(b[:], a[:])
	})
}

// PublicBlob implements public.Source.
func (m *Memory) PublicBlob(_ context.Context, sum [32]byte) (public.Blob, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if data, ok := m.blobs[sum]; ok {
		for _, p := range m.posts {
			if !live(p.Payload) {
				continue
			}
			for _, a := range p.Payload.GetAttachments() {
				if bytes.Equal(a.GetSha256(), sum[:]) {
					return public.Blob{Content: bytes.NewReader(data), Size: int64(len(data)), MediaType: a.GetMediaType(),
						ModTime: time.UnixMilli(p.Payload.GetCreatedUnixMs())}, nil
				}
			}
		}
	}
	return public.Blob{}, fmt.Errorf("blob %s: %w", hex.EncodeToString(sum[:]), public.ErrNotFound)
}
