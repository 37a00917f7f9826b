package public

import (
	"context"
	"errors"
	"io"
	"time"

	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Errors a Source returns (wrapped or not); Handler tests them with errors.Is.
var (
	// ErrNotFound means there is no public thing by that name: the id or hash is unknown,
	// or it belongs to a post that has never been public. Both must be indistinguishable.
	ErrNotFound = errors.New("not found")
	// ErrGone means the post was public once and is not any more: its newest version is a
	// tombstone or is private. Handler answers 410 Gone.
	ErrGone = errors.New("no longer public")
	// ErrBadCursor means a pagination cursor is not one the Source handed out.
	ErrBadCursor = errors.New("malformed pagination cursor")
)

// Source is what the HTTP face reads: the person's own public posts and their blobs.
// Every method is called with the request's context (bounded by Config.SourceTimeout)
// and may be called concurrently. Answers reflect the store as it is at the call (no
// caching of its own), so that an edit, delete or change of audience shows at once.
// publictest.TestSource checks an implementation against this contract, and
// publictest.Memory is the reference implementation.
//
// The privacy rule, which every method keeps: only the newest version of a post whose
// visibility is PUBLIC and which is not deleted is public. A post that is or was
// private and never public must answer exactly like an id that does not exist
// (ErrNotFound), in every method, so that no response reveals that it exists. Only a
// post that was public once and now is deleted or private answers ErrGone. Only the
// person's own posts are ever public here: the posts of friends that the store holds,
// public or not, answer like unknown ids, and their blobs are never served.
type Source interface {
	// Profile returns the person: their ID always; their name and follow list only if
	// they chose to publish them (empty otherwise).
	Profile(ctx context.Context) (Profile, error)

	// PublicPosts returns up to q.Limit public posts, newest first by (CreatedUnixMs,
	// then ID) descending, so that an edit does not move a post. With q.Tag set, only
	// posts whose signed Hashtags contain that tag (already lowercase, without '#').
	// With q.After set, the page starts after the post that cursor names; a cursor the
	// Source did not hand out answers ErrBadCursor. Page.Next is the cursor of the next
	// page, empty on the last one. Page.Modified is the newest UpdatedUnixMs of any post
	// that is or ever was public (tombstones and now-private versions included), so that
	// it moves forward when a post disappears; it is the Last-Modified of every list.
	PublicPosts(ctx context.Context, q Query) (Page, error)

	// PublicPost returns the newest version of the post with that id if it is public.
	// Otherwise ErrGone if some earlier version was public (it is now deleted or private),
	// and ErrNotFound if no version ever was public or the id is unknown.
	PublicPost(ctx context.Context, id PostID) (Post, error)

	// PublicBlob returns the blob with that SHA-256 if some currently public post
	// attaches it, and ErrNotFound otherwise (unknown, or attached only to posts that
	// are private, deleted or no longer public). If Blob.Content is also an io.Closer,
	// Handler closes it when the response is written.
	PublicBlob(ctx context.Context, sum [32]byte) (Blob, error)
}

// Profile is the person whose node this is, as far as they chose to publish it.
type Profile struct {
	// ID is the person's public key; its ID() is what pages show and feeds name.
	ID identity.PublicKey
	// Name is the display name, or empty if the person did not publish one.
	Name string
	// Follows is the public follow list, or nil if the person did not publish one. It is
	// the only place other people's IDs may appear.
	Follows []identity.PublicKey
	// Updated is when any of the above last changed; zero if unknown.
	Updated time.Time
}

// Query selects a page of public posts.
type Query struct {
	// Tag, when not empty, keeps posts carrying this normalised hashtag (see NormalizeTag).
	Tag string
	// After is a cursor from an earlier Page.Next; empty for the newest posts.
	After string
	// Limit is the most posts to return; Handler always sets it (1 to 100).
	Limit int
}

// Page is one page of public posts, newest first.
type Page struct {
	// Posts are the posts of this page, each public (see Source).
	Posts []Post
	// Next is the cursor of the following page, or empty when this is the last. It must
	// be at most 128 characters of A-Z a-z 0-9 '-' '_' '.' so it travels in a URL as is.
	Next string
	// Modified is the Last-Modified of the list (see Source.PublicPosts).
	Modified time.Time
}

// Post is one verified public post: its signed envelope as stored, and the payload that
// verifying it produced (OpenPost makes both from an envelope). Payload must be exactly
// the parse of Envelope.Payload: lists render Payload, /p/ID.json shows Envelope.
type Post struct {
	// Envelope is the signed envelope exactly as the author signed it.
	Envelope *signedv1.Envelope
	// Payload is Envelope.Payload parsed after the signature was verified.
	Payload *postv1.Payload
}

// Blob is the content of one attachment.
type Blob struct {
	// Content reads the blob; Handler seeks in it to answer Range requests.
	Content io.ReadSeeker
	// Size is the blob's length in bytes.
	Size int64
	// MediaType is the media type the author declared for it, such as image/jpeg.
	MediaType string
	// ModTime is when the blob was stored; zero if unknown.
	ModTime time.Time
}
