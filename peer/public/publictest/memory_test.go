package publictest

import (
	"testing"

	"github.com/kithnet/kith/peer/public"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

func TestMemory(t *testing.T) {
	TestSource(t, func(t *testing.T, key *identity.Key, history, friends []*signedv1.Envelope, blobs [][]byte) public.Source {
		m := NewMemory(key.Public())
		for _, b := range blobs {
			m.PutBlob(b)
		}
		for _, env := range history {
			if _, err := m.Put(env); err != nil {
				t.Fatal(err)
			}
		}
		for _, env := range friends {
			if _, err := m.Put(env); err == nil {
				t.Fatal("Memory took a friend's post as the person's own")
			}
		}
		return m
	})
}
