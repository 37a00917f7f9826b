package store

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Conversations: replies and reactions, each a record signed by its own author, held
// under the post they answer. The post's author hosts the conversation of their posts
// (serves it with the post to its audience); every other peer holds the copy its host
// served last, plus its own records the host has not acknowledged yet (the outbox).

// Errors of conversations a caller may test for with errors.Is.
var (
	// ErrNoSuchPost means the post does not exist here or the asker may not see it: the
	// two answer alike, so that asking reveals nothing.
	ErrNoSuchPost = errors.New("no such post (or you may not see it)")
	// ErrRemoved means the post's author removed this reply from their conversation.
	ErrRemoved = errors.New("the post's author removed this reply")
	// ErrConversationFull means a post's conversation, or one person's part of it, is
	// at its limit.
	ErrConversationFull = errors.New("the conversation is at its limit")
	// ErrNotYours means a reply is neither the person's own nor under their post.
	ErrNotYours = errors.New("that reply is not yours, nor under your post")
)

// Limits of a hosted conversation.
const (
	// MaxRepliesPerPerson bounds one person's replies under one post.
	MaxRepliesPerPerson = 1000
	// MaxRecordsPerPost bounds a post's conversation.
	MaxRecordsPerPost = 100_000
)

// Record kinds inside a conversation key.
const (
	kindReply    = 'r'
	kindReaction = 'x'
)

var (
	bConvo    = []byte("convo")     // post author(32) || post id(16) || kind(1) || author(32) [|| reply id(16)] -> version(8) || Envelope
	bOutbox   = []byte("convoout")  // same key -> empty: own records the host has not acknowledged
	bRemoved  = []byte("convogone") // reply key -> empty: replies the host removed from its conversation
	bReplyIdx = []byte("replyidx")  // reply id(16) || author(32) -> reply key
)

// convoBuckets are created on open when missing: additive, no schema step needed.
var convoBuckets = [][]byte{bConvo, bOutbox, bRemoved, bReplyIdx, bNotes, bRequests, bReqSent, bConvRev, bLastPost, bConvoBlobs}

// ensureConvoBuckets adds the conversation buckets to a file that lacks them, writing
// only when one is missing (a new file gets them in its first transaction).
func ensureConvoBuckets(db *bolt.DB) error {
	missing := false
	if err := db.View(func(tx *bolt.Tx) error {
		for _, b := range convoBuckets {
			missing = missing || tx.Bucket(b) == nil
		}
		return nil
	}); err != nil || !missing {
		return err
	}
	return db.Update(createConvoBuckets)
}

func createConvoBuckets(tx *bolt.Tx) error {
	for _, b := range convoBuckets {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

func convoPrefix(postAuthor identity.PublicKey, id post.ID) []byte {
	return append(append(make([]byte, 0, 97), postAuthor[:]...), id[:]...)
}

func replyKey(postAuthor identity.PublicKey, pid post.ID, author identity.PublicKey, rid post.ID) []byte {
	return append(append(append(convoPrefix(postAuthor, pid), kindReply), author[:]...), rid[:]...)
}

func reactionKey(postAuthor identity.PublicKey, pid post.ID, author identity.PublicKey) []byte {
	return append(append(convoPrefix(postAuthor, pid), kindReaction), author[:]...)
}

// keyOfReply returns a verified reply's key.
func keyOfReply(r *postv1.Reply) []byte {
	return replyKey(identity.PublicKey(r.GetPostAuthor()), post.ID(r.GetPostId()), identity.PublicKey(r.GetAuthor()), post.ID(r.GetId()))
}

func keyOfReaction(r *postv1.Reaction) []byte {
	return reactionKey(identity.PublicKey(r.GetPostAuthor()), post.ID(r.GetPostId()), identity.PublicKey(r.GetAuthor()))
}

// Record is a conversation record held here: exactly one of Reply and Reaction is set.
type Record struct {
	Envelope *signedv1.Envelope
	Reply    *postv1.Reply
	Reaction *postv1.Reaction
	// Pending is set on an own record its host has not acknowledged.
	Pending bool
}

// putRecord holds env (a verified record) at key, replacing what was there; blobs the
// replaced version attached and nothing refers to any more are appended to orphans.
func putRecord(tx *bolt.Tx, key []byte, version uint64, env *signedv1.Envelope, orphans *[][]byte) error {
	b, err := proto.Marshal(env)
	if err != nil {
		return err
	}
	if key[48] == kindReply {
		r := new(postv1.Reply)
		if err := proto.Unmarshal(env.GetPayload(), r); err != nil {
			return fmt.Errorf("reply at %x: %w", key, err)
		}
		if err := addRecordBlobs(tx, key, r); err != nil {
			return err
		}
		if err := dropRecordBlobs(tx, key, r, orphans); err != nil {
			return err
		}
		if err := tx.Bucket(bReplyIdx).Put(append(append([]byte(nil), key[81:97]...), key[49:81]...), key); err != nil {
			return err
		}
	}
	return tx.Bucket(bConvo).Put(key, append(u64(version), b...))
}

// deleteRecord forgets the record at key, as putRecord its replaced version.
func deleteRecord(tx *bolt.Tx, key []byte, orphans *[][]byte) error {
	if err := dropRecordBlobs(tx, key, nil, orphans); err != nil {
		return err
	}
	if key[48] == kindReply {
		if err := tx.Bucket(bReplyIdx).Delete(append(append([]byte(nil), key[81:97]...), key[49:81]...)); err != nil {
			return err
		}
	}
	return tx.Bucket(bConvo).Delete(key)
}

func decodeRecord(key, v []byte) (Record, error) {
	if len(v) < 8 || len(key) < 49 {
		return Record{}, errors.New("corrupt conversation entry")
	}
	env := new(signedv1.Envelope)
	if err := proto.Unmarshal(v[8:], env); err != nil {
		return Record{}, fmt.Errorf("corrupt conversation entry: %w", err)
	}
	rec := Record{Envelope: env}
	var err error
	if key[48] == kindReply {
		rec.Reply = new(postv1.Reply)
		err = proto.Unmarshal(env.GetPayload(), rec.Reply)
	} else {
		rec.Reaction = new(postv1.Reaction)
		err = proto.Unmarshal(env.GetPayload(), rec.Reaction)
	}
	if err != nil {
		return Record{}, fmt.Errorf("corrupt conversation entry: %w", err)
	}
	return rec, nil
}

// HostReply takes a reply that from signed (verified by the caller with post.OpenReply)
// into the conversation of one of the own posts. from must be its author and may see
// the post; the reply's visibility must be the post's; an older or equal version than
// held changes nothing. The post gets a new changes-log entry, so its audience pulls the
// conversation again. It reports whether anything changed.
func (s *Store) HostReply(from identity.PublicKey, env *signedv1.Envelope, r *postv1.Reply) (bool, error) {
	changed := false
	err := s.updateBlobs(func(tx *bolt.Tx, orphans *[][]byte) error {
		pid, err := s.hostable(tx, from, r.GetAuthor(), r.GetPostAuthor(), r.GetPostId(), r.GetVisibility())
		if err != nil {
			return err
		}
		key := keyOfReply(r)
		if tx.Bucket(bRemoved).Get(key) != nil {
			return ErrRemoved
		}
		held := tx.Bucket(bConvo).Get(key)
		if getU64(prefix8(held)) >= r.GetVersion() {
			return nil
		}
		if err := checkBlobs(tx, r.GetAttachments()); err != nil {
			return fmt.Errorf("%w: %w", ErrBlobMissing, err)
		}
		if held == nil {
			if err := checkRoom(tx, key[:81], MaxRepliesPerPerson); err != nil {
				return err
			}
			if err := checkRoom(tx, key[:48], MaxRecordsPerPost); err != nil {
				return err
			}
		}
		if err := putRecord(tx, key, r.GetVersion(), env, orphans); err != nil {
			return err
		}
		changed = true
		if from != s.self {
			if err := s.noteReply(tx, r, held == nil); err != nil {
				return err
			}
		}
		return conversationChanged(tx, pid)
	})
	return changed, err
}

// HostReaction is HostReply for a reaction.
func (s *Store) HostReaction(from identity.PublicKey, env *signedv1.Envelope, r *postv1.Reaction) (bool, error) {
	changed := false
	err := s.update(func(tx *bolt.Tx) error {
		pid, err := s.hostable(tx, from, r.GetAuthor(), r.GetPostAuthor(), r.GetPostId(), r.GetVisibility())
		if err != nil {
			return err
		}
		key := keyOfReaction(r)
		held := tx.Bucket(bConvo).Get(key)
		if getU64(prefix8(held)) >= r.GetVersion() {
			return nil
		}
		if held == nil {
			if err := checkRoom(tx, key[:48], MaxRecordsPerPost); err != nil {
				return err
			}
		}
		if err := putRecord(tx, key, r.GetVersion(), env, new([][]byte)); err != nil { // a reaction attaches nothing
			return err
		}
		changed = true
		if from != s.self && r.GetEmoji() != "" {
			if err := s.addNote(tx, Note{Kind: NoteReaction, From: identity.PublicKey(r.GetAuthor()), PostID: post.ID(r.GetPostId()), Text: r.GetEmoji()}); err != nil {
				return err
			}
		}
		return conversationChanged(tx, pid)
	})
	return changed, err
}

// hostable checks that a record by author, answering (postAuthor, postID) with the
// given visibility, may join an own post's conversation when from hands it over.
func (s *Store) hostable(tx *bolt.Tx, from identity.PublicKey, author, postAuthor, postID []byte, vis postv1.Visibility) (post.ID, error) {
	var pid post.ID
	if !s.hasSelf {
		return pid, ErrNoIdentity
	}
	if v := s.viewerOf(tx, from); !v.Friend && !v.Self {
		return pid, fmt.Errorf("%w: only friends may answer posts", ErrNotFriend)
	}
	if string(author) != string(from[:]) {
		return pid, fmt.Errorf("%w: the record is signed by someone else than the sender", ErrNotYours)
	}
	if string(postAuthor) != string(s.self[:]) {
		return pid, ErrNoSuchPost // not ours to host: the same answer as an unknown post
	}
	copy(pid[:], postID)
	st, ok, err := s.visibleOwn(tx, s.viewerOf(tx, from), pid)
	if err != nil {
		return pid, err
	}
	if !ok || st.Payload.GetDeleted() {
		return pid, ErrNoSuchPost
	}
	if vis != st.Payload.GetVisibility() {
		return pid, fmt.Errorf("%w: the record's visibility (%v) is not the post's (%v)", post.ErrInvalid, vis, st.Payload.GetVisibility())
	}
	return pid, nil
}

// checkRoom fails when the records under prefix number max already.
func checkRoom(tx *bolt.Tx, prefix []byte, max int) error {
	n := 0
	c := tx.Bucket(bConvo).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if n++; n >= max {
			return fmt.Errorf("%w (%d records)", ErrConversationFull, max)
		}
	}
	return nil
}

// RemoveReply takes someone's reply out of the conversation of an own post, for good:
// the same reply handed over again is refused.
func (s *Store) RemoveReply(pid post.ID, author identity.PublicKey, rid post.ID) error {
	return s.updateBlobs(func(tx *bolt.Tx, orphans *[][]byte) error {
		if !s.hasSelf {
			return ErrNoIdentity
		}
		key := replyKey(s.self, pid, author, rid)
		if tx.Bucket(bConvo).Get(key) == nil {
			return fmt.Errorf("reply %s: %w", rid, ErrNotFound)
		}
		if err := deleteRecord(tx, key, orphans); err != nil {
			return err
		}
		if err := tx.Bucket(bRemoved).Put(key, nil); err != nil {
			return err
		}
		return conversationChanged(tx, pid)
	})
}

// PutOwnRecord keeps an own record on someone else's post (or the own record the
// daemon could not host yet): it shows in the thread at once, and stays in the outbox
// until Delivered says the host holds it.
func (s *Store) PutOwnRecord(env *signedv1.Envelope, reply *postv1.Reply, reaction *postv1.Reaction) error {
	key, version := recordKey(reply, reaction)
	return s.updateBlobs(func(tx *bolt.Tx, orphans *[][]byte) error {
		if err := checkBlobs(tx, reply.GetAttachments()); err != nil {
			return fmt.Errorf("%w: %w", ErrBlobMissing, err)
		}
		if err := putRecord(tx, key, version, env, orphans); err != nil {
			return err
		}
		return tx.Bucket(bOutbox).Put(key, nil)
	})
}

// Delivered notes that the host holds an own record (at least this version).
func (s *Store) Delivered(reply *postv1.Reply, reaction *postv1.Reaction) error {
	key, version := recordKey(reply, reaction)
	return s.update(func(tx *bolt.Tx) error {
		if getU64(prefix8(tx.Bucket(bConvo).Get(key))) > version {
			return nil // a newer version waits
		}
		return tx.Bucket(bOutbox).Delete(key)
	})
}

func recordKey(reply *postv1.Reply, reaction *postv1.Reaction) ([]byte, uint64) {
	if reply != nil {
		return keyOfReply(reply), reply.GetVersion()
	}
	return keyOfReaction(reaction), reaction.GetVersion()
}

// Outbox returns the own records waiting for host.
func (s *Store) Outbox(host identity.PublicKey) ([]Record, error) {
	var out []Record
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bOutbox).Cursor()
		for k, _ := c.Seek(host[:]); k != nil && bytes.HasPrefix(k, host[:]); k, _ = c.Next() {
			v := tx.Bucket(bConvo).Get(k)
			if v == nil {
				continue
			}
			rec, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			rec.Pending = true
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// Conversation returns the records of an own post's conversation that viewer may see:
// nothing (ErrNoSuchPost) when viewer may not see the post; the public records only when
// viewer sees the post only because it is public (a stranger). fn is called with pages
// of at most n records.
func (s *Store) Conversation(viewer identity.PublicKey, pid post.ID, n int, fn func([]Record) error) error {
	var page []Record
	err := s.db.View(func(tx *bolt.Tx) error {
		v := s.viewerOf(tx, viewer)
		m, err := getMeta(tx, pid)
		if errors.Is(err, ErrNotFound) || err == nil && !feed.Visible(m.Audience, v) {
			return ErrNoSuchPost
		}
		if err != nil {
			return err
		}
		private := m.Audience
		private.Public = false
		privateOK := feed.Visible(private, v)
		pfx := convoPrefix(s.self, pid)
		c := tx.Bucket(bConvo).Cursor()
		for k, val := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, val = c.Next() {
			if tx.Bucket(bOutbox).Get(k) != nil {
				continue // cannot happen for a hosted record; never serve an unacknowledged one
			}
			rec, err := decodeRecord(k, val)
			if err != nil {
				return err
			}
			if !privateOK && rec.visibility() != postv1.Visibility_VISIBILITY_PUBLIC {
				continue
			}
			page = append(page, rec)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for len(page) > 0 {
		k := min(n, len(page))
		if err := fn(page[:k]); err != nil {
			return err
		}
		page = page[k:]
	}
	return nil
}

func (r Record) visibility() postv1.Visibility {
	if r.Reply != nil {
		return r.Reply.GetVisibility()
	}
	return r.Reaction.GetVisibility()
}

// HeldConversation is a post's conversation as its host served it, verified by the
// puller: every reply and reaction opened with its own author's key, each answering this
// post.
type HeldConversation struct {
	PostID    post.ID
	Replies   []VerifiedReply
	Reactions []VerifiedReaction
	// Removed names the replies the host removed from its conversation: served only to
	// the host's own devices (convosync.go), ignored from anyone else.
	Removed []ReplyRef
}

// VerifiedReply is a reply whose envelope the caller verified (post.OpenReply).
type VerifiedReply struct {
	Envelope *signedv1.Envelope
	Reply    *postv1.Reply
}

// VerifiedReaction is a reaction whose envelope the caller verified (post.OpenReaction).
type VerifiedReaction struct {
	Envelope *signedv1.Envelope
	Reaction *postv1.Reaction
}

// applyConversations replaces the held copy of each conversation of host's posts by
// what host served, keeping own records host has not acknowledged yet, inside a pull's
// transaction. New records that mention this person become notifications.
func (s *Store) applyConversations(tx *bolt.Tx, host identity.PublicKey, cs []HeldConversation, orphans *[][]byte) error {
	for _, hc := range cs {
		if tx.Bucket(bPosts).Get(postKey(host, hc.PostID)) == nil {
			continue // a conversation without its post: nothing to hang it on
		}
		pfx := convoPrefix(host, hc.PostID)
		old := map[string]uint64{}
		c := tx.Bucket(bConvo).Cursor()
		for k, v := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, v = c.Next() {
			old[string(k)] = getU64(prefix8(v))
		}
		keep := map[string]bool{}
		for _, r := range hc.Replies {
			key := keyOfReply(r.Reply)
			if !bytes.HasPrefix(key, pfx) {
				return fmt.Errorf("reply %x does not answer post %s", r.Reply.GetId(), hc.PostID)
			}
			if err := checkBlobs(tx, r.Reply.GetAttachments()); err != nil {
				return fmt.Errorf("reply %x: %w: %w", r.Reply.GetId(), ErrBlobMissing, err)
			}
			if err := s.applyRecord(tx, key, r.Reply.GetVersion(), r.Envelope, old, keep, orphans); err != nil {
				return err
			}
			if _, had := old[string(key)]; !had && s.mentionsSelf(r.Reply) {
				if err := s.addNote(tx, Note{Kind: NoteMention, From: identity.PublicKey(r.Reply.GetAuthor()), PostID: hc.PostID, ReplyID: post.ID(r.Reply.GetId()), Text: r.Reply.GetText()}); err != nil {
					return err
				}
			}
		}
		for _, r := range hc.Reactions {
			key := keyOfReaction(r.Reaction)
			if !bytes.HasPrefix(key, pfx) {
				return fmt.Errorf("reaction does not answer post %s", hc.PostID)
			}
			if err := s.applyRecord(tx, key, r.Reaction.GetVersion(), r.Envelope, old, keep, orphans); err != nil {
				return err
			}
		}
		for k := range old {
			if keep[k] || tx.Bucket(bOutbox).Get([]byte(k)) != nil {
				continue
			}
			if err := deleteRecord(tx, []byte(k), orphans); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) mentionsSelf(r *postv1.Reply) bool {
	if !s.hasSelf || string(r.GetAuthor()) == string(s.self[:]) {
		return false
	}
	for _, m := range r.GetMentions() {
		if string(m) == string(s.self[:]) {
			return true
		}
	}
	return false
}

// applyRecord stores a served record unless an own unacknowledged newer one is held.
func (s *Store) applyRecord(tx *bolt.Tx, key []byte, version uint64, env *signedv1.Envelope, old map[string]uint64, keep map[string]bool, orphans *[][]byte) error {
	keep[string(key)] = true
	held, had := old[string(key)]
	if tx.Bucket(bOutbox).Get(key) != nil {
		if held > version {
			return nil // our newer version still waits for the host
		}
		if err := tx.Bucket(bOutbox).Delete(key); err != nil {
			return err
		}
	}
	if had && held == version {
		return nil
	}
	return putRecord(tx, key, version, env, orphans)
}

// dropConversation forgets the held copy of a post's conversation (the post was revoked).
func dropConversation(tx *bolt.Tx, host identity.PublicKey, pid post.ID, orphans *[][]byte) error {
	pfx := convoPrefix(host, pid)
	var keys [][]byte
	c := tx.Bucket(bConvo).Cursor()
	for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := deleteRecord(tx, k, orphans); err != nil {
			return err
		}
		if err := tx.Bucket(bOutbox).Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Thread returns the records held under a post: replies oldest first (tombstones left
// out), then reactions (withdrawn ones left out).
func (s *Store) Thread(postAuthor identity.PublicKey, pid post.ID) ([]Record, error) {
	var out []Record
	err := s.db.View(func(tx *bolt.Tx) error {
		pfx := convoPrefix(postAuthor, pid)
		c := tx.Bucket(bConvo).Cursor()
		for k, v := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, v = c.Next() {
			rec, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			if rec.Reply != nil && rec.Reply.GetDeleted() || rec.Reaction != nil && rec.Reaction.GetEmoji() == "" {
				continue
			}
			rec.Pending = tx.Bucket(bOutbox).Get(k) != nil
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// FindReply returns the held reply with id rid, preferring an own one.
func (s *Store) FindReply(rid post.ID) (Record, error) {
	var rec Record
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bReplyIdx).Cursor()
		var found []byte
		for k, v := c.Seek(rid[:]); k != nil && bytes.HasPrefix(k, rid[:]); k, v = c.Next() {
			if found == nil || s.hasSelf && string(k[16:]) == string(s.self[:]) {
				found = append([]byte(nil), v...)
			}
		}
		if found == nil {
			return fmt.Errorf("reply %s: %w", rid, ErrNotFound)
		}
		v := tx.Bucket(bConvo).Get(found)
		if v == nil {
			return fmt.Errorf("reply %s: %w", rid, ErrNotFound)
		}
		var err error
		rec, err = decodeRecord(found, v)
		rec.Pending = tx.Bucket(bOutbox).Get(found) != nil
		return err
	})
	return rec, err
}

// Reaction returns the person's own held reaction to a post, if any.
func (s *Store) Reaction(postAuthor identity.PublicKey, pid post.ID, who identity.PublicKey) (*postv1.Reaction, error) {
	var r *postv1.Reaction
	err := s.db.View(func(tx *bolt.Tx) error {
		key := reactionKey(postAuthor, pid, who)
		v := tx.Bucket(bConvo).Get(key)
		if v == nil {
			return nil
		}
		rec, err := decodeRecord(key, v)
		r = rec.Reaction
		return err
	})
	return r, err
}

// ForgetOwnRecord drops an own record its host refused, so that nothing shows it as
// part of the thread.
func (s *Store) ForgetOwnRecord(reply *postv1.Reply, reaction *postv1.Reaction) error {
	key, version := recordKey(reply, reaction)
	return s.updateBlobs(func(tx *bolt.Tx, orphans *[][]byte) error {
		if getU64(prefix8(tx.Bucket(bConvo).Get(key))) != version {
			return nil
		}
		if err := deleteRecord(tx, key, orphans); err != nil {
			return err
		}
		return tx.Bucket(bOutbox).Delete(key)
	})
}

// bConvRev counts each own post's conversation changes: id(16) -> u64. A view (views.go)
// gets a new entry for a post whose conversation changed only when its viewer may see
// the post, so a reader re-fetches the conversation and nobody else learns of it.
var bConvRev = []byte("convrev")

// conversationChanged records a change of pid's conversation: its revision moves and the
// post gets a new entry in the changes log.
func conversationChanged(tx *bolt.Tx, pid post.ID) error {
	b := tx.Bucket(bConvRev)
	if err := b.Put(pid[:], u64(getU64(b.Get(pid[:]))+1)); err != nil {
		return err
	}
	return sequence(tx, pid)
}

// conversationRev is pid's conversation revision, 0 before any change.
func conversationRev(tx *bolt.Tx, pid post.ID) uint64 {
	if b := tx.Bucket(bConvRev); b != nil {
		return getU64(b.Get(pid[:]))
	}
	return 0
}
