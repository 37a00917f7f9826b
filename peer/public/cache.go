package public

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sync"
	"time"
)

// maxCachedBodies bounds the body cache; past it, the cache starts afresh.
const maxCachedBodies = 512

// rendered is a body ready to serve, with its strong ETag.
type rendered struct {
	body []byte
	etag string
}

func newRendered(body []byte) rendered {
	sum := sha256.Sum256(body)
	return rendered{body: body, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

// bodyCache keeps rendered pages and feeds by a key that names everything they are
// rendered from (see cacheKey): rendering is a pure function of those inputs, and the
// posts among them are named by their signatures, so an edit, a delete or a change of
// audience changes the key and is never served stale.
type bodyCache struct {
	mu sync.Mutex
	m  map[[32]byte]rendered
}

// cached returns the body for key, rendering it on a miss.
func (s *server) cached(key [32]byte, render func() ([]byte, error)) (rendered, error) {
	s.bodies.mu.Lock()
	rd, ok := s.bodies.m[key]
	s.bodies.mu.Unlock()
	if ok {
		return rd, nil
	}
	body, err := render()
	if err != nil {
		return rendered{}, err
	}
	rd = newRendered(body)
	s.bodies.mu.Lock()
	if len(s.bodies.m) >= maxCachedBodies {
		clear(s.bodies.m)
	}
	s.bodies.m[key] = rd
	s.bodies.mu.Unlock()
	return rd, nil
}

// cacheKey hashes the inputs of one rendering, each part delimited.
type cacheKey struct{ h hash.Hash }

func newCacheKey(kind string) cacheKey {
	k := cacheKey{h: sha256.New()}
	k.add(kind)
	return k
}

func (k cacheKey) add(parts ...string) cacheKey {
	for _, p := range parts {
		k.h.Write([]byte(p))
		k.h.Write([]byte{0})
	}
	return k
}

func (k cacheKey) time(t time.Time) cacheKey { return k.add(t.UTC().Format(time.RFC3339Nano)) }

func (k cacheKey) profile(p profileView) cacheKey {
	k.add(p.ID, p.Name, p.URL)
	return k.add(p.Follows...)
}

func (k cacheKey) posts(ps ...postView) cacheKey {
	for _, p := range ps {
		k.add(p.signature)
	}
	return k.add("end of posts")
}

func (k cacheKey) sum() [32]byte {
	var s [32]byte
	k.h.Sum(s[:0])
	return s
}
