package public

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"

	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
)

// maxVerified bounds the cache of verified envelopes; past it, the cache starts afresh.
const maxVerified = 4096

// verifiedCache remembers the envelopes whose signature verified, with the payload that
// verifying them produced. Lists re-verify what a Source returns as /p/ID does, and a
// signed version never changes, so each is verified once, not on every list request.
type verifiedCache struct {
	mu sync.Mutex
	m  map[[32]byte]*postv1.Payload
}

// envelopeKey names an envelope by all three of its fields, each length-prefixed so that
// no two envelopes share a key.
func envelopeKey(env *signedv1.Envelope) [32]byte {
	h := sha256.New()
	for _, b := range [][]byte{env.GetSigner(), env.GetPayload(), env.GetSignature()} {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(b))))
		h.Write(b)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// verified opens env as a post (OpenPost), from the cache when it verified before. The
// Post it returns carries the payload parsed from the verified bytes, never the one a
// Source parsed, so a page shows only what the author signed.
func (s *server) verified(env *signedv1.Envelope) (Post, error) {
	if env == nil {
		return Post{}, errNotPublic
	}
	k := envelopeKey(env)
	s.opened.mu.Lock()
	pl, ok := s.opened.m[k]
	s.opened.mu.Unlock()
	if ok {
		return Post{Envelope: env, Payload: pl}, nil
	}
	p, err := OpenPost(env)
	if err != nil {
		return Post{}, err
	}
	s.opened.mu.Lock()
	if len(s.opened.m) >= maxVerified {
		clear(s.opened.m)
	}
	s.opened.m[k] = p.Payload
	s.opened.mu.Unlock()
	return p, nil
}
