package syncer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
)

// replyWith seals a reply by n to author's post id that attaches atts.
func (n *node) replyWith(t testing.TB, author *node, id post.ID, public bool, atts ...*postv1.Attachment) store.Record {
	t.Helper()
	env, r, err := post.SealReply(n.key, post.ReplyDraft{PostAuthor: author.pub(), PostID: id, Text: "look", Public: public,
		Now: time.Now(), Attachments: atts})
	if err != nil {
		t.Fatal(err)
	}
	return store.Record{Envelope: env, Reply: r}
}

// getBlob fetches sha from c whole; the error is the stream's.
func getBlob(ctx context.Context, c syncv1.SyncServiceClient, sha []byte) ([]byte, error) {
	s, err := c.GetBlob(ctx, &syncv1.GetBlobRequest{Sha256: sha})
	if err != nil {
		return nil, err
	}
	var out []byte
	for {
		m, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m.GetChunk()...)
	}
}

func (n *node) hasBlob(t testing.TB, a *postv1.Attachment) bool {
	t.Helper()
	ok, err := n.st.HasBlob(a.GetSha256())
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestReplyAttachments: a friend's reply with a photo (two chunks) reaches its host
// with the photo; the host serves the photo exactly to the post's audience (the replier
// and another member, not a friend outside the audience nor a stranger), a public
// reply's photo to anyone; a reader's pull brings it, verified.
func TestReplyAttachments(t *testing.T) {
	author, bob, carol := newNode(t, "author", nil), newNode(t, "bob", nil), newNode(t, "carol", nil)
	dave, stranger := newNode(t, "dave", nil), newNode(t, "stranger", nil)
	befriend(t, author, bob, "close")
	befriend(t, author, carol, "close")
	befriend(t, author, dave)
	befriend(t, carol, author)
	close := author.publish(t, "for close friends", feed.Audience{Groups: []string{"close"}})
	public := author.publish(t, "for all", feed.Audience{Public: true})
	ctx := ctxT(t)
	bc, cc := bob.client(t, author), carol.client(t, author)
	clients := map[*node]syncv1.SyncServiceClient{bob: bc, carol: cc, dave: dave.client(t, author), stranger: stranger.client(t, author)}

	photo := randomBytes(t, ChunkSize+1000)
	att := bob.blob(t, photo)
	if err := Deliver(ctx, bc, bob.st, bob.replyWith(t, author, close, false, att)); err != nil {
		t.Fatalf("a friend's reply with a photo: %v", err)
	}
	if !author.hasBlob(t, att) {
		t.Fatal("the host does not hold the reply's photo")
	}
	// Delivered again (as from the outbox), the photo is not sent twice and all is well.
	if err := Deliver(ctx, bc, bob.st, bob.replyWith(t, author, close, false, att)); err != nil {
		t.Fatalf("a second reply with the same photo: %v", err)
	}
	// A photo of exactly one chunk, and an empty file: no empty chunk is ever sent.
	sizes := author.publish(t, "sizes", feed.Audience{Groups: []string{"close"}})
	for _, size := range []int{ChunkSize, 0} {
		a := bob.blob(t, randomBytes(t, size))
		if err := Deliver(ctx, bc, bob.st, bob.replyWith(t, author, sizes, false, a)); err != nil || !author.hasBlob(t, a) {
			t.Fatalf("a reply with a file of %d bytes: %v (held %v)", size, err, author.hasBlob(t, a))
		}
	}
	pubPhoto := randomBytes(t, 500)
	pubAtt := bob.blob(t, pubPhoto)
	if err := Deliver(ctx, bc, bob.st, bob.replyWith(t, author, public, true, pubAtt)); err != nil {
		t.Fatalf("a public reply with a photo: %v", err)
	}

	for _, tc := range []struct {
		who    *node
		sha    []byte
		want   []byte
		reason string
	}{
		{bob, att.GetSha256(), photo, "the replier, in the audience"},
		{carol, att.GetSha256(), photo, "another member of the audience"},
		{dave, att.GetSha256(), nil, "a friend outside the audience"},
		{stranger, att.GetSha256(), nil, "a stranger"},
		{stranger, pubAtt.GetSha256(), pubPhoto, "a stranger, a public reply's photo"},
		{dave, pubAtt.GetSha256(), pubPhoto, "a friend, a public reply's photo"},
	} {
		got, err := getBlob(ctx, clients[tc.who], tc.sha)
		if tc.want == nil {
			wantCode(t, tc.reason, err, codes.NotFound)
			continue
		}
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: %d bytes, %v; want the %d bytes of the photo", tc.reason, len(got), err, len(tc.want))
		}
	}

	// Carol pulls: the post, the reply and its photo arrive, verified.
	p := NewPuller(PullerConfig{Store: carol.st, Logger: quiet()})
	res, err := p.Pull(ctx, cc, author.pub())
	if err != nil {
		t.Fatal(err)
	}
	// The photo (once for its two replies), the two files of "sizes", the public photo.
	if !carol.hasBlob(t, att) || res.Blobs != 4 {
		t.Errorf("carol pulled the conversations with %d blobs stored (holds the reply's photo: %v), want the 4 replies' files, each once", res.Blobs, carol.hasBlob(t, att))
	}
	recs, err := carol.st.Thread(author.pub(), close)
	if err != nil || len(recs) != 2 || len(recs[0].Reply.GetAttachments()) != 1 || len(recs[1].Reply.GetAttachments()) != 1 {
		t.Fatalf("carol's thread: %d records, %v; want the two replies with their photo", len(recs), err)
	}

	// The host removes one reply: the other still attaches the photo, which stays; with
	// the second gone, the photo leaves the host's disk and nobody is served it.
	for i, rec := range recs {
		if err := author.st.RemoveReply(close, bob.pub(), post.ID(rec.Reply.GetId())); err != nil {
			t.Fatal(err)
		}
		if got, want := author.hasBlob(t, att), i == 0; got != want {
			t.Errorf("after removing %d of 2 replies with the photo, the host holds it: %v, want %v", i+1, got, want)
		}
	}
	_, err = getBlob(ctx, cc, att.GetSha256())
	wantCode(t, "the photo of removed replies", err, codes.NotFound)
	// Carol's next pull drops the replies, and the photo with them.
	if _, err := p.Pull(ctx, cc, author.pub()); err != nil {
		t.Fatal(err)
	}
	if carol.hasBlob(t, att) {
		t.Error("carol still holds the photo of replies the host removed")
	}
}

// TestReplyAttachmentsRefused: bytes that are not the attachment named, a blob that is
// not the reply's, a reply handed over without its photo, a stranger's or an outsider's
// photo are all refused, and the host stores nothing.
func TestReplyAttachmentsRefused(t *testing.T) {
	author, bob, dave, stranger := newNode(t, "author", nil), newNode(t, "bob", nil), newNode(t, "dave", nil), newNode(t, "stranger", nil)
	befriend(t, author, bob, "close")
	befriend(t, author, dave)
	close := author.publish(t, "for close friends", feed.Audience{Groups: []string{"close"}})
	public := author.publish(t, "for all", feed.Audience{Public: true})
	ctx := ctxT(t)
	bc := bob.client(t, author)
	att := bob.blob(t, randomBytes(t, 3000))
	rec := bob.replyWith(t, author, close, false, att)

	put := func(c syncv1.SyncServiceClient, first *syncv1.PutReplyBlobRequest, chunks ...[]byte) error {
		t.Helper()
		s, err := c.PutReplyBlob(ctx)
		if err != nil {
			return err
		}
		if err := s.Send(first); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		for _, ch := range chunks {
			if err := s.Send(&syncv1.PutReplyBlobRequest{Chunk: ch}); err != nil {
				break
			}
		}
		_, err = s.CloseAndRecv()
		return err
	}
	other := randomBytes(t, 3000)
	for _, tc := range []struct {
		name string
		c    syncv1.SyncServiceClient
		req  *syncv1.PutReplyBlobRequest
		data [][]byte
		code codes.Code
	}{
		{"other bytes of the same size", bc, &syncv1.PutReplyBlobRequest{Reply: rec.Envelope, Sha256: att.GetSha256()}, [][]byte{other}, codes.InvalidArgument},
		{"an empty chunk", bc, &syncv1.PutReplyBlobRequest{Reply: rec.Envelope, Sha256: att.GetSha256()}, [][]byte{other[:10], {}, other[10:]}, codes.InvalidArgument},
		{"one byte too many", bc, &syncv1.PutReplyBlobRequest{Reply: rec.Envelope, Sha256: att.GetSha256()}, [][]byte{append(other, 0)}, codes.InvalidArgument},
		{"a blob the reply does not attach", bc, &syncv1.PutReplyBlobRequest{Reply: rec.Envelope, Sha256: make([]byte, 32)}, [][]byte{other}, codes.InvalidArgument},
		{"a short sha256", bc, &syncv1.PutReplyBlobRequest{Reply: rec.Envelope, Sha256: att.GetSha256()[:31]}, nil, codes.InvalidArgument},
		{"bytes in the first message", bc, &syncv1.PutReplyBlobRequest{Reply: rec.Envelope, Sha256: att.GetSha256(), Chunk: other}, nil, codes.InvalidArgument},
		{"no reply", bc, &syncv1.PutReplyBlobRequest{Sha256: att.GetSha256()}, [][]byte{other}, codes.InvalidArgument},
		{"a friend outside the audience", dave.client(t, author),
			&syncv1.PutReplyBlobRequest{Reply: dave.replyWith(t, author, close, false, att).Envelope, Sha256: att.GetSha256()}, nil, codes.NotFound},
		{"a stranger, on a public post", stranger.client(t, author),
			&syncv1.PutReplyBlobRequest{Reply: stranger.replyWith(t, author, public, true, att).Envelope, Sha256: att.GetSha256()}, nil, codes.PermissionDenied},
		{"someone else's reply", dave.client(t, author), &syncv1.PutReplyBlobRequest{Reply: rec.Envelope, Sha256: att.GetSha256()}, nil, codes.PermissionDenied},
	} {
		wantCode(t, tc.name, put(tc.c, tc.req, tc.data...), tc.code)
		if author.hasBlob(t, att) {
			t.Fatalf("%s: the host stored the blob", tc.name)
		}
	}
	// The reply without its photo is refused too.
	_, err := bc.PutConversation(ctx, &syncv1.PutConversationRequest{Record: &syncv1.PutConversationRequest_Reply{Reply: rec.Envelope}})
	wantCode(t, "a reply without its photo", err, codes.FailedPrecondition)
	if recs, err := author.st.Thread(author.pub(), close); err != nil || len(recs) != 0 {
		t.Errorf("the host holds %d records, %v; want none", len(recs), err)
	}
	// A removed reply's photo is refused.
	if err := Deliver(ctx, bc, bob.st, rec); err != nil {
		t.Fatal(err)
	}
	if err := author.st.RemoveReply(close, bob.pub(), post.ID(rec.Reply.GetId())); err != nil {
		t.Fatal(err)
	}
	if author.hasBlob(t, att) {
		t.Error("the removed reply's photo stayed on the host's disk")
	}
	wantCode(t, "a removed reply's photo", put(bc, &syncv1.PutReplyBlobRequest{Reply: rec.Envelope, Sha256: att.GetSha256()}), codes.FailedPrecondition)
}
