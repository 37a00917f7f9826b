package public

import (
	"crypto/rand"
	"testing"

	"google.golang.org/protobuf/proto"

	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// TestVerifiedCacheBound: the cache of verified envelopes holds at most maxVerified;
// the envelope that would go past it starts the cache afresh, and below the bound
// nothing is forgotten. A hit gives the payload verifying produced.
func TestVerifiedCacheBound(t *testing.T) {
	key := genKey(t)
	seal := func(text string) *signedv1.Envelope {
		t.Helper()
		p := &postv1.Payload{Id: make([]byte, 16), Author: key.Public().Bytes(), Version: 1, Text: text,
			Visibility: postv1.Visibility_VISIBILITY_PUBLIC}
		rand.Read(p.Id)
		env, err := signed.Seal(key, identity.ContextPost, p)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	s := &server{opened: verifiedCache{m: map[[32]byte]*postv1.Payload{}}}
	// Stand-ins for maxVerified-1 envelopes verified earlier.
	for i := range maxVerified - 1 {
		var k [32]byte
		k[0], k[1], k[31] = byte(i), byte(i>>8), 0xee
		s.opened.m[k] = &postv1.Payload{}
	}
	first := seal("the last one that fits")
	p, err := s.verified(first)
	if err != nil || p.Payload.GetText() != "the last one that fits" {
		t.Fatalf("verified: %v, %v", p.Payload, err)
	}
	if len(s.opened.m) != maxVerified {
		t.Fatalf("cache holds %d after filling it, want %d: it was cleared below the bound", len(s.opened.m), maxVerified)
	}
	if got, err := s.verified(first); err != nil || !proto.Equal(got.Payload, p.Payload) || got.Payload != s.opened.m[envelopeKey(first)] {
		t.Fatalf("a second look at the same envelope is not the cached payload: %v", err)
	}
	if len(s.opened.m) != maxVerified {
		t.Fatalf("a hit changed the cache size to %d", len(s.opened.m))
	}
	next := seal("one past the bound")
	if _, err := s.verified(next); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.opened.m[envelopeKey(next)]; len(s.opened.m) != 1 || !ok {
		t.Fatalf("cache holds %d after going past the bound, want 1 (only the new envelope)", len(s.opened.m))
	}
}
