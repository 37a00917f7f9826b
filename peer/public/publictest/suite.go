package publictest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/public"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Opener makes the Source under test: a fresh store of the person whose key is key,
// holding blobs and the signed posts of history, stored in that order (later versions
// of a post after earlier ones), as the person's own node would have written them, and
// friends: posts of other people the node holds as it would after a sync (public ones
// among them), which must never show.
type Opener func(t *testing.T, key *identity.Key, history, friends []*signedv1.Envelope, blobs [][]byte) public.Source

// history is the audience matrix the suite loads: what each post was and is now.
type history struct {
	key                      *identity.Key
	envs                     []*signedv1.Envelope
	blobs                    [][]byte
	pubOld, pubNew, pubEdit  *postv1.Payload // public; pubEdit edited to version 2
	priv, privEdited         *postv1.Payload // never public
	deleted, madePrivate     *postv1.Payload // public once
	blobPub, blobPriv, blobG [32]byte        // of a public, a private, a made-private post
	blobShared               [32]byte        // of a private and a public post
	friends                  []*signedv1.Envelope
	friendPost               *postv1.Payload // a friend's public post
	blobFriend               [32]byte        // of the friend's post
	newestChange             time.Time       // the newest update of any post ever public
}

const ms0 = int64(1_790_000_000_000)

func newHistory(t *testing.T) *history {
	t.Helper()
	key, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h := &history{key: key}
	blob := func(s string) [32]byte {
		h.blobs = append(h.blobs, []byte(s))
		return memSum([]byte(s))
	}
	att := func(sum [32]byte, mt string) []*postv1.Attachment {
		return []*postv1.Attachment{{Sha256: sum[:], Size: 10, MediaType: mt}}
	}
	h.blobPub, h.blobPriv, h.blobG, h.blobShared = blob("public blob"), blob("private blob"), blob("made-private blob"), blob("shared blob")

	h.pubOld = NewPayload("oldest public #a #b", Public, ms0)
	h.pubOld.Attachments = att(h.blobPub, "image/png")
	h.priv = NewPayload("private #a", Private, ms0+1000)
	h.priv.Attachments = append(att(h.blobPriv, "image/jpeg"), att(h.blobShared, "text/plain")...)
	h.pubEdit = NewPayload("public, to be edited #a", Public, ms0+2000)
	h.pubEdit.Attachments = att(h.blobShared, "text/plain")
	h.deleted = NewPayload("public, to be deleted #a", Public, ms0+3000)
	h.madePrivate = NewPayload("public, to be made private #a", Public, ms0+4000)
	h.madePrivate.Attachments = att(h.blobG, "image/gif")
	h.privEdited = NewPayload("private draft", Private, ms0+5000)
	h.pubNew = NewPayload("newest public #b", Public, ms0+6000)
	for _, p := range []*postv1.Payload{h.pubOld, h.priv, h.pubEdit, h.deleted, h.madePrivate, h.privEdited, h.pubNew} {
		h.envs = append(h.envs, Sign(key, p))
	}
	h.pubEdit = Edit(h.pubEdit, ms0+7000, func(p *postv1.Payload) { p.Text = "public, edited #a #b"; p.Hashtags = []string{"a", "b"} })
	h.deleted = Edit(h.deleted, ms0+8000, Delete)
	h.madePrivate = Edit(h.madePrivate, ms0+9000, func(p *postv1.Payload) { p.Visibility = Private })
	h.privEdited = Edit(h.privEdited, ms0+10000, func(p *postv1.Payload) { p.Text = "private, second draft" })
	for _, p := range []*postv1.Payload{h.pubEdit, h.deleted, h.madePrivate, h.privEdited} {
		h.envs = append(h.envs, Sign(key, p))
	}
	h.newestChange = time.UnixMilli(ms0 + 9000)

	friend, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h.blobFriend = blob("a friend's blob")
	h.friendPost = NewPayload("a friend's public post #a #b", Public, ms0+11000)
	h.friendPost.Attachments = att(h.blobFriend, "image/png")
	h.friends = append(h.friends, Sign(friend, h.friendPost))
	return h
}

func memSum(b []byte) [32]byte { return NewMemory(identity.PublicKey{}).PutBlob(b) }

// TestSource runs the behavioural suite of public.Source against the Source that open
// makes: the privacy rule, Gone against NotFound, order, pagination, tags, Modified and
// blobs. Every implementation (the in-memory one here, the peer's store) must pass it.
func TestSource(t *testing.T, open Opener) {
	h := newHistory(t)
	src := open(t, h.key, h.envs, h.friends, h.blobs)
	ctx := context.Background()

	t.Run("Profile", func(t *testing.T) {
		p, err := src.Profile(ctx)
		if err != nil || p.ID != h.key.Public() {
			t.Errorf("Profile: %v, %v; want the key's ID", p.ID, err)
		}
	})
	t.Run("PublicPosts", func(t *testing.T) { testList(t, ctx, src, h) })
	t.Run("PublicPost", func(t *testing.T) { testOne(t, ctx, src, h) })
	t.Run("PublicBlob", func(t *testing.T) { testBlobs(t, ctx, src, h) })
}

func testList(t *testing.T, ctx context.Context, src public.Source, h *history) {
	for _, tc := range []struct {
		tag  string
		want []*postv1.Payload
	}{
		{"", []*postv1.Payload{h.pubNew, h.pubEdit, h.pubOld}},
		{"a", []*postv1.Payload{h.pubEdit, h.pubOld}},
		{"b", []*postv1.Payload{h.pubNew, h.pubEdit, h.pubOld}},
		{"nosuchtag", nil},
	} {
		for _, limit := range []int{1, 2, 100} {
			got, modified := walk(t, ctx, src, tc.tag, limit)
			if !slices.Equal(got, versions(tc.want)) {
				t.Errorf("tag %q, limit %d: pages hold %v, want %v (newest first by creation, newest versions, public only)", tc.tag, limit, got, versions(tc.want))
			}
			if !modified.Equal(h.newestChange) {
				t.Errorf("tag %q: Page.Modified %v, want %v (the newest change to a post ever public)", tc.tag, modified, h.newestChange)
			}
		}
	}
	if _, err := src.PublicPosts(ctx, public.Query{After: "not-a-cursor", Limit: 2}); !errors.Is(err, public.ErrBadCursor) {
		t.Errorf("a made-up cursor: %v, want ErrBadCursor", err)
	}
}

// walk follows Page.Next to the end and returns "id@version" of each post in order.
func walk(t *testing.T, ctx context.Context, src public.Source, tag string, limit int) ([]string, time.Time) {
	t.Helper()
	var got []string
	var modified time.Time
	q := public.Query{Tag: tag, Limit: limit}
	for pages := 0; ; pages++ {
		page, err := src.PublicPosts(ctx, q)
		if err != nil {
			t.Fatalf("PublicPosts(%+v): %v", q, err)
		}
		if len(page.Posts) > limit || pages > 10 {
			t.Fatalf("PublicPosts(%+v): %d posts, page %d", q, len(page.Posts), pages)
		}
		modified = page.Modified
		got = append(got, versions(payloads(page.Posts))...)
		if page.Next == "" {
			return got, modified
		}
		if len(page.Next) > public.MaxCursor {
			t.Fatalf("cursor %q longer than %d", page.Next, public.MaxCursor)
		}
		q.After = page.Next
	}
}

func payloads(posts []public.Post) []*postv1.Payload {
	var out []*postv1.Payload
	for _, p := range posts {
		out = append(out, p.Payload)
	}
	return out
}

func versions(ps []*postv1.Payload) []string {
	var out []string
	for _, p := range ps {
		out = append(out, ID(p)+"@"+string(rune('0'+p.GetVersion())))
	}
	return out
}

func testOne(t *testing.T, ctx context.Context, src public.Source, h *history) {
	unknown := NewPayload("never stored", Public, ms0)
	for _, tc := range []struct {
		name string
		p    *postv1.Payload
		want error // nil: the post, at p's version
	}{
		{"public", h.pubOld, nil},
		{"edited", h.pubEdit, nil},
		{"private", h.priv, public.ErrNotFound},
		{"private, edited", h.privEdited, public.ErrNotFound},
		{"unknown", unknown, public.ErrNotFound},
		{"deleted", h.deleted, public.ErrGone},
		{"made private", h.madePrivate, public.ErrGone},
		{"a friend's public", h.friendPost, public.ErrNotFound},
	} {
		id, _ := public.PostIDFromBytes(tc.p.GetId())
		got, err := src.PublicPost(ctx, id)
		switch {
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%s post: %v, want %v", tc.name, err, tc.want)
		case tc.want != nil && got.Envelope != nil:
			t.Errorf("%s post: an envelope along with the error", tc.name)
		case tc.want == nil && err != nil:
			t.Errorf("%s post: %v", tc.name, err)
		case tc.want == nil && (got.Payload.GetVersion() != tc.p.GetVersion() || got.Envelope == nil):
			t.Errorf("%s post: version %d, want the newest, %d, with its envelope", tc.name, got.Payload.GetVersion(), tc.p.GetVersion())
		case tc.want == nil:
			if opened, err := public.OpenPost(got.Envelope); err != nil || opened.Payload.GetText() != got.Payload.GetText() {
				t.Errorf("%s post: the envelope does not open to the payload: %v", tc.name, err)
			}
		}
	}
}

func testBlobs(t *testing.T, ctx context.Context, src public.Source, h *history) {
	for _, tc := range []struct {
		name string
		sum  [32]byte
		data string // empty: ErrNotFound
	}{
		{"of a public post", h.blobPub, "public blob"},
		{"of a private and a public post", h.blobShared, "shared blob"},
		{"of a private post only", h.blobPriv, ""},
		{"of a post made private", h.blobG, ""},
		{"of a friend's public post", h.blobFriend, ""},
		{"unknown", memSum([]byte("never stored")), ""},
	} {
		b, err := src.PublicBlob(ctx, tc.sum)
		if tc.data == "" {
			if !errors.Is(err, public.ErrNotFound) {
				t.Errorf("blob %s: %v, want ErrNotFound", tc.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("blob %s: %v", tc.name, err)
			continue
		}
		data, _ := io.ReadAll(b.Content)
		if c, ok := b.Content.(io.Closer); ok {
			c.Close()
		}
		if !bytes.Equal(data, []byte(tc.data)) || b.Size != int64(len(tc.data)) || b.MediaType == "" {
			t.Errorf("blob %s: %q, size %d, type %q; want %q", tc.name, data, b.Size, b.MediaType, tc.data)
		}
	}
}
