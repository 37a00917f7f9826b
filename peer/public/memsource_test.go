package public

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// memSource is a Source over real signed envelopes held in memory, keeping the contract
// the way the bbolt store must: newest version wins, "was ever public" is remembered.
type memSource struct {
	key  *identity.Key
	name string

	mu        sync.Mutex
	posts     map[PostID]Post // newest version of each post
	wasPublic map[PostID]bool
	blobs     map[[32]byte][]byte
	modified  time.Time
	order     []PostID // public posts, newest first; nil when stale
}

func newMemSource(t testing.TB, name string) *memSource {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &memSource{key: k, name: name, posts: map[PostID]Post{}, wasPublic: map[PostID]bool{}, blobs: map[[32]byte][]byte{}}
}

// put signs p (author filled in) and stores it as the newest version.
func (m *memSource) put(t testing.TB, p *postv1.Payload) Post {
	t.Helper()
	p.Author = m.key.Public().Bytes()
	env, err := signed.Seal(m.key, identity.ContextPost, p)
	if err != nil {
		t.Fatal(err)
	}
	post, err := OpenPost(env)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := PostIDFromBytes(p.GetId())
	m.mu.Lock()
	defer m.mu.Unlock()
	m.posts[id] = post
	if live(post.Payload) {
		m.wasPublic[id] = true
	}
	if m.wasPublic[id] {
		m.modified = maxTime(m.modified, time.UnixMilli(p.GetUpdatedUnixMs()))
	}
	m.order = nil
	return post
}

func (m *memSource) putBlob(data []byte) [32]byte {
	sum := sha256.Sum256(data)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blobs[sum] = data
	return sum
}

func live(p *postv1.Payload) bool {
	return p.GetVisibility() == postv1.Visibility_VISIBILITY_PUBLIC && !p.GetDeleted()
}

func (m *memSource) Profile(ctx context.Context) (Profile, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Profile{ID: m.key.Public(), Name: m.name}, nil
}

func (m *memSource) PublicPost(ctx context.Context, id PostID) (Post, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.posts[id]
	switch {
	case ok && live(p.Payload):
		return p, nil
	case m.wasPublic[id]:
		return Post{}, fmt.Errorf("post %s: %w", id, ErrGone)
	}
	return Post{}, fmt.Errorf("post %s: %w", id, ErrNotFound)
}

func (m *memSource) PublicPosts(ctx context.Context, q Query) (Page, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sort()
	start := 0
	if q.After != "" {
		id, err := ParsePostID(q.After)
		if err != nil {
			return Page{}, ErrBadCursor
		}
		i := slices.Index(m.order, id)
		if i < 0 {
			return Page{}, ErrBadCursor
		}
		start = i + 1
	}
	page := Page{Modified: m.modified}
	for i := start; i < len(m.order); i++ {
		p := m.posts[m.order[i]]
		if q.Tag != "" && !slices.Contains(p.Payload.GetHashtags(), q.Tag) {
			continue
		}
		if len(page.Posts) == q.Limit {
			page.Next = PostID(page.Posts[len(page.Posts)-1].Payload.GetId()).String()
			break
		}
		page.Posts = append(page.Posts, p)
	}
	return page, nil
}

// sort rebuilds the newest-first order of public posts when it is stale.
func (m *memSource) sort() {
	if m.order != nil {
		return
	}
	m.order = []PostID{}
	for id, p := range m.posts {
		if live(p.Payload) {
			m.order = append(m.order, id)
		}
	}
	slices.SortFunc(m.order, func(a, b PostID) int {
		pa, pb := m.posts[a].Payload, m.posts[b].Payload
		if c := pb.GetCreatedUnixMs() - pa.GetCreatedUnixMs(); c != 0 {
			return int(c)
		}
		return bytes.Compare(b[:], a[:])
	})
}

func (m *memSource) PublicBlob(ctx context.Context, sum [32]byte) (Blob, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.posts {
		if !live(p.Payload) {
			continue
		}
		for _, a := range p.Payload.GetAttachments() {
			if bytes.Equal(a.GetSha256(), sum[:]) {
				data, ok := m.blobs[sum]
				if !ok {
					break
				}
				return Blob{Content: bytes.NewReader(data), Size: int64(len(data)), MediaType: a.GetMediaType(), ModTime: time.UnixMilli(p.Payload.GetCreatedUnixMs())}, nil
			}
		}
	}
	return Blob{}, fmt.Errorf("blob %s: %w", hex.EncodeToString(sum[:]), ErrNotFound)
}

// newPayload is version 1 of a post with a fresh id, written at ms.
func newPayload(text string, vis postv1.Visibility, ms int64) *postv1.Payload {
	id := make([]byte, 16)
	rand.Read(id)
	return &postv1.Payload{
		Id: id, Version: 1, CreatedUnixMs: ms, UpdatedUnixMs: ms, Text: text,
		Hashtags: hashtagsOf(text), Visibility: vis,
	}
}

// hashtagsOf is how a test author finds the tags in text.
func hashtagsOf(text string) []string {
	var tags []string
	for _, w := range strings.Fields(text) {
		if !strings.HasPrefix(w, "#") {
			continue
		}
		if t, err := NormalizeTag(strings.TrimRight(w, ".,!?")); err == nil && !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	return tags
}

// edit returns the next version of p.
func edit(p *postv1.Payload, ms int64, change func(*postv1.Payload)) *postv1.Payload {
	n := &postv1.Payload{
		Id: p.Id, Version: p.Version + 1, CreatedUnixMs: p.CreatedUnixMs, UpdatedUnixMs: ms,
		Text: p.Text, Hashtags: p.Hashtags, Attachments: p.Attachments, Visibility: p.Visibility,
	}
	change(n)
	return n
}

func idOf(p *postv1.Payload) string { return hex.EncodeToString(p.GetId()) }
