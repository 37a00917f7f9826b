package store

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/peer/post"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

// A person's devices share the conversations of their posts (issue 16; docs/DESIGN.md
// "A person's devices share the conversations of their posts"). Every device hosts
// what friends hand to it; own-device sync merges the hosted records of the other
// devices record by record (the higher version wins, never an older one) and carries
// the removals, which stay refusals on every device. A merge that changes nothing makes
// no log entry, so devices pulling each other settle.

// ErrForeignRecord means another device served a conversation record, or a removal,
// that does not belong to the own post it came with.
var ErrForeignRecord = errors.New("a conversation record does not answer the own post it came with")

// ReplyRef names a reply under a post: its author and id.
type ReplyRef struct {
	Author identity.PublicKey
	ID     post.ID
}

// RemovedReplies returns the replies removed from the conversation of own post pid,
// for viewer: the person alone (another device of theirs) learns them; anyone else
// gets none, as if nothing was removed.
func (s *Store) RemovedReplies(viewer identity.PublicKey, pid post.ID) ([]ReplyRef, error) {
	var out []ReplyRef
	if !s.hasSelf || viewer != s.self {
		return nil, nil
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		pfx := append(convoPrefix(s.self, pid), kindReply)
		c := tx.Bucket(bRemoved).Cursor()
		for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
			var r ReplyRef
			copy(r.Author[:], k[49:81])
			copy(r.ID[:], k[81:])
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// mergeOwnConversations merges conversations of own posts that another device of the
// person hosts (verified by the caller: every record opened with its author's key or
// chain, answering the post it came with) into what this device hosts, inside
// ApplyOwn's transaction: removals first (the record goes, the refusal stays), then each
// record not removed here and newer than the version held. A post that changed gets a
// new log entry; one that did not, none. A conversation of a post not held here is
// skipped (nothing to hang it on); a record of another post, or past the limits, fails
// the whole merge.
func (s *Store) mergeOwnConversations(tx *bolt.Tx, cs []HeldConversation, orphans *[][]byte) error {
	for _, hc := range cs {
		if tx.Bucket(bOwnMeta).Get(hc.PostID[:]) == nil {
			continue
		}
		changed, err := s.mergeOwnConversation(tx, hc, orphans)
		if err != nil {
			return fmt.Errorf("conversation of post %s: %w", hc.PostID, err)
		}
		if changed {
			if err := conversationChanged(tx, hc.PostID); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) mergeOwnConversation(tx *bolt.Tx, hc HeldConversation, orphans *[][]byte) (bool, error) {
	if len(hc.Removed) > MaxRecordsPerPost {
		return false, fmt.Errorf("%w: %d removals", ErrConversationFull, len(hc.Removed))
	}
	changed := false
	for _, ref := range hc.Removed {
		ch, err := s.mergeRemoval(tx, replyKey(s.self, hc.PostID, ref.Author, ref.ID), orphans)
		if err != nil {
			return false, err
		}
		changed = changed || ch
	}
	pfx := convoPrefix(s.self, hc.PostID)
	for _, r := range hc.Replies {
		key := keyOfReply(r.Reply)
		if !bytes.HasPrefix(key, pfx) {
			return false, fmt.Errorf("%w: reply %x", ErrForeignRecord, r.Reply.GetId())
		}
		if err := checkBlobs(tx, r.Reply.GetAttachments()); err != nil {
			return false, fmt.Errorf("reply %x: %w: %w", r.Reply.GetId(), ErrBlobMissing, err)
		}
		ch, err := mergeRecord(tx, key, r.Reply.GetVersion(), r.Envelope, orphans)
		if err != nil {
			return false, err
		}
		changed = changed || ch
	}
	for _, r := range hc.Reactions {
		key := keyOfReaction(r.Reaction)
		if !bytes.HasPrefix(key, pfx) {
			return false, fmt.Errorf("%w: a reaction", ErrForeignRecord)
		}
		ch, err := mergeRecord(tx, key, r.Reaction.GetVersion(), r.Envelope, orphans)
		if err != nil {
			return false, err
		}
		changed = changed || ch
	}
	return changed, nil
}

// mergeRemoval removes the reply at key for good, as RemoveReply does; a removal held
// already changes nothing.
func (s *Store) mergeRemoval(tx *bolt.Tx, key []byte, orphans *[][]byte) (bool, error) {
	if tx.Bucket(bRemoved).Get(key) != nil {
		return false, nil
	}
	if tx.Bucket(bConvo).Get(key) != nil {
		if err := deleteRecord(tx, key, orphans); err != nil {
			return false, err
		}
	}
	return true, tx.Bucket(bRemoved).Put(key, nil)
}

// mergeRecord holds env at key when it is newer than what is held and not a reply
// removed here, within the limits a host keeps (HostReply).
func mergeRecord(tx *bolt.Tx, key []byte, version uint64, env *signedv1.Envelope, orphans *[][]byte) (bool, error) {
	if tx.Bucket(bRemoved).Get(key) != nil {
		return false, nil
	}
	held := tx.Bucket(bConvo).Get(key)
	if getU64(prefix8(held)) >= version {
		return false, nil
	}
	if held == nil {
		if err := checkRoom(tx, key[:48], MaxRecordsPerPost); err != nil {
			return false, err
		}
		if key[48] == kindReply {
			if err := checkRoom(tx, key[:81], MaxRepliesPerPerson); err != nil {
				return false, err
			}
		}
	}
	if err := putRecord(tx, key, version, env, orphans); err != nil {
		return false, err
	}
	return true, tx.Bucket(bOutbox).Delete(key)
}
