package crawl

import (
	"bytes"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/shared/identity"
)

// Result is one post a search found.
type Result struct {
	// ID is the post's id.
	ID post.ID
	// Author is who wrote (and signed) it.
	Author identity.PublicKey
	// Text, Tags, Created and Updated are the post's.
	Text    string
	Tags    []string
	Created time.Time
	Updated time.Time
	// Verified is true when the envelope verified again, at search time, as Author's.
	Verified bool
}

// Search answers q from the index, newest first, at most limit results (all when 0).
func (ix *Index) Search(q Query, limit int) ([]Result, error) {
	var out []Result
	if len(q.From) > 1 {
		return nil, nil // two authors at once: nothing matches
	}
	err := ix.db.View(func(tx *bolt.Tx) error {
		bucket, prefix := bTimes, []byte(nil)
		switch {
		case len(q.Tags) > 0:
			bucket, prefix = bTags, tagPrefix(q.Tags[0])
		case len(q.From) == 1:
			bucket, prefix = bAuthors, q.From[0][:]
		}
		posts := tx.Bucket(bPosts)
		c := tx.Bucket(bucket).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			key := postKeyOf(bucket, k)
			if key == nil {
				continue
			}
			r, ok := match(q, key, posts.Get(key))
			if !ok {
				continue
			}
			out = append(out, r)
			if limit > 0 && len(out) == limit {
				return nil
			}
		}
		return nil
	})
	return out, err
}

// postKeyOf turns a secondary index key into author || id: by author it is
// author || time || id; by tag and by time it ends with time || author || id.
func postKeyOf(bucket, k []byte) []byte {
	switch {
	case bytes.Equal(bucket, bAuthors) && len(k) == 32+8+16:
		return append(append(make([]byte, 0, 48), k[:32]...), k[40:]...)
	case !bytes.Equal(bucket, bAuthors) && len(k) >= 8+48:
		return k[len(k)-48:]
	}
	return nil
}

func match(q Query, key, val []byte) (Result, bool) {
	env, p, err := decodePost(val)
	if err != nil {
		return Result{}, false
	}
	author, err := identity.PublicKeyFromBytes(key[:32])
	if err != nil {
		return Result{}, false
	}
	if len(q.From) == 1 && q.From[0] != author {
		return Result{}, false
	}
	for _, t := range q.Tags {
		if !slices.Contains(p.GetHashtags(), t) {
			return Result{}, false
		}
	}
	words := Words(p.GetText())
	for _, w := range q.Words {
		if !slices.Contains(words, w) {
			return Result{}, false
		}
	}
	_, verr := post.OpenFrom(env, author)
	return Result{ID: post.ID(p.GetId()), Author: author, Text: p.GetText(), Tags: p.GetHashtags(),
		Created: time.UnixMilli(p.GetCreatedUnixMs()), Updated: time.UnixMilli(p.GetUpdatedUnixMs()),
		Verified: verr == nil}, true
}
