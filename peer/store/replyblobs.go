package store

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Attachments of replies. The host of a conversation stores a reply's blobs before the
// reply (the replier hands them over first) and serves them exactly to those it serves
// the reply to; a reader fetches them from the host with the conversation. Each held
// reply names its blobs in bConvoBlobs, so a blob stays while any post or reply refers
// to it and leaves with the last one.

// ErrBlobMissing means a reply's attachment is not stored here (the replier must hand
// it over before the reply).
var ErrBlobMissing = errors.New("an attachment of the reply is not here (hand it over first)")

// bConvoBlobs indexes replies' attachments: sha256(32) || reply key (97) -> empty.
var bConvoBlobs = []byte("convoblobs")

// replyAttachments returns the attachments of the reply held at key, none when there is
// none or the record is a reaction.
func replyAttachments(tx *bolt.Tx, key []byte) ([]*postv1.Attachment, error) {
	v := tx.Bucket(bConvo).Get(key)
	if v == nil || key[48] != kindReply {
		return nil, nil
	}
	rec, err := decodeRecord(key, v)
	if err != nil {
		return nil, err
	}
	return rec.Reply.GetAttachments(), nil
}

// dropRecordBlobs removes the blob references of the record held at key, except those
// the version replacing it (next, nil when none) attaches too, and appends to orphans
// the blobs nothing refers to any more (unreferenced).
func dropRecordBlobs(tx *bolt.Tx, key []byte, next *postv1.Reply, orphans *[][]byte) error {
	atts, err := replyAttachments(tx, key)
	if err != nil || len(atts) == 0 {
		return err
	}
	var shas [][]byte
	for _, a := range atts {
		if attaches(next, a.GetSha256()) {
			continue
		}
		if err := tx.Bucket(bConvoBlobs).Delete(convoBlobKey(a.GetSha256(), key)); err != nil {
			return err
		}
		shas = append(shas, a.GetSha256())
	}
	*orphans, err = unreferenced(tx, *orphans, shas)
	return err
}

// addRecordBlobs references the attachments of a reply about to be held at key.
func addRecordBlobs(tx *bolt.Tx, key []byte, r *postv1.Reply) error {
	for _, a := range r.GetAttachments() {
		if err := tx.Bucket(bConvoBlobs).Put(convoBlobKey(a.GetSha256(), key), nil); err != nil {
			return err
		}
	}
	return nil
}

// attaches reports whether r (nil: none) has an attachment with this SHA-256.
func attaches(r *postv1.Reply, sha []byte) bool {
	for _, a := range r.GetAttachments() {
		if bytes.Equal(a.GetSha256(), sha) {
			return true
		}
	}
	return false
}

func convoBlobKey(sha, key []byte) []byte {
	return append(append(make([]byte, 0, len(sha)+len(key)), sha...), key...)
}

// updateBlobs is update for changes that may leave blobs unreferenced: fn appends them
// to orphans, whose files go once the transaction is committed. It holds blobMu (lock
// order: blobMu, then the bbolt transaction), so no new copy of a blob is committed
// between its index entry leaving and its file leaving.
func (s *Store) updateBlobs(fn func(tx *bolt.Tx, orphans *[][]byte) error) error {
	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	var orphans [][]byte
	err := s.update(func(tx *bolt.Tx) error {
		orphans = nil
		return fn(tx, &orphans)
	})
	if err == nil {
		s.removeBlobFiles(orphans)
	}
	return err
}

// ReplyBlobWanted checks that from may hand over the blob sha as an attachment of r
// (verified by the caller with post.OpenReply): r could join an own post's
// conversation now (HostReply's rules) and attaches sha. It returns the attachment, and
// whether the blob is stored already.
func (s *Store) ReplyBlobWanted(from identity.PublicKey, r *postv1.Reply, sha []byte) (*postv1.Attachment, bool, error) {
	var att *postv1.Attachment
	held := false
	err := s.db.View(func(tx *bolt.Tx) error {
		if _, err := s.hostable(tx, from, r.GetAuthor(), r.GetPostAuthor(), r.GetPostId(), r.GetVisibility()); err != nil {
			return err
		}
		if tx.Bucket(bRemoved).Get(keyOfReply(r)) != nil {
			return ErrRemoved
		}
		for _, a := range r.GetAttachments() {
			if bytes.Equal(a.GetSha256(), sha) {
				att = a
				break
			}
		}
		if att == nil {
			return fmt.Errorf("%w: blob %x is not an attachment of reply %x", post.ErrInvalid, sha, r.GetId())
		}
		v := tx.Bucket(bBlobs).Get(sha)
		held = v != nil && blobSize(v) == att.GetSize()
		return nil
	})
	return att, held, err
}

// replyBlobVisible reports whether viewer v may fetch the blob sha because a reply of an
// own post's conversation that v is served attaches it (Conversation's rule: the post
// visible to v, and a private reply only when v is in the post's private audience).
func (s *Store) replyBlobVisible(tx *bolt.Tx, v feed.Viewer, sha []byte) (bool, error) {
	c := tx.Bucket(bConvoBlobs).Cursor()
	for k, _ := c.Seek(sha); k != nil && bytes.HasPrefix(k, sha); k, _ = c.Next() {
		key := k[len(sha):]
		if len(key) != 97 || key[48] != kindReply || !bytes.HasPrefix(key, s.self[:]) {
			continue // another host's conversation: served by its host, not from here
		}
		pid := post.ID(key[32:48])
		m, err := getMeta(tx, pid)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		if !feed.Visible(m.Audience, v) || tx.Bucket(bOutbox).Get(key) != nil {
			continue
		}
		private := m.Audience
		private.Public = false
		if feed.Visible(private, v) {
			return true, nil
		}
		val := tx.Bucket(bConvo).Get(key)
		if val == nil {
			continue
		}
		rec, err := decodeRecord(key, val)
		if err != nil {
			return false, err
		}
		if rec.Reply.GetVisibility() == postv1.Visibility_VISIBILITY_PUBLIC {
			return true, nil
		}
	}
	return false, nil
}

// DropUnreferenced removes the blobs of atts that no post or reply refers to: the
// attachments of a reply that was not written after all (bad input, a refusal), so
// that a failed reply leaves nothing behind.
func (s *Store) DropUnreferenced(atts []*postv1.Attachment) error {
	if len(atts) == 0 {
		return nil
	}
	return s.updateBlobs(func(tx *bolt.Tx, orphans *[][]byte) error {
		var shas [][]byte
		for _, a := range atts {
			shas = append(shas, a.GetSha256())
		}
		var err error
		*orphans, err = unreferenced(tx, *orphans, shas)
		return err
	})
}
