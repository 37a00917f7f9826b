package daemon

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
	"github.com/kithnet/kith/peer/store"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

// TestPublicSource runs the public face's conformance suite on a real bbolt store: own
// posts arrive as their signed versions, in order; friends' posts arrive as a pull would
// store them; blobs are put as attachments are.
func TestPublicSource(t *testing.T) {
	publictest.TestSource(t, func(t *testing.T, key *identity.Key, history, friends []*signedv1.Envelope, blobs [][]byte) public.Source {
		st, err := store.Open(store.Config{Home: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if err := st.Init(key, "author"); err != nil {
			t.Fatal(err)
		}
		for _, b := range blobs {
			if _, err := st.PutBlob(bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
		}
		for _, env := range history {
			pl, err := post.OpenFrom(env, key.Public())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Recovered([]store.Verified{{Envelope: env, Payload: pl}}); err != nil {
				t.Fatal(err)
			}
		}
		byAuthor := map[identity.PublicKey][]store.Verified{}
		for _, env := range friends {
			signer, err := identity.PublicKeyFromBytes(env.GetSigner())
			if err != nil {
				t.Fatal(err)
			}
			pl, err := post.OpenFrom(env, signer)
			if err != nil {
				t.Fatal(err)
			}
			byAuthor[signer] = append(byAuthor[signer], store.Verified{Envelope: env, Payload: pl})
		}
		for friend, posts := range byAuthor {
			if err := st.PutFriend(store.Friend{Key: friend, Name: "friend"}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Apply(friend, store.Batch{Posts: posts, Cursor: 1}); err != nil {
				t.Fatal(err)
			}
		}
		return NewPublicSource(st)
	})
}
