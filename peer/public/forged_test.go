package public_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	"github.com/kithnet/kith/shared/identity"
)

// forgingSource keeps the contract's visibility rule but adds posts whose envelopes
// do not verify as the person's, each with a parsed payload that passes for public: the
// handler must refuse them by their signature alone.
type forgingSource struct {
	*publictest.Memory
	forged []public.Post
}

func (s forgingSource) PublicPosts(ctx context.Context, q public.Query) (public.Page, error) {
	page, err := s.Memory.PublicPosts(ctx, q)
	if err == nil && q.After == "" {
		page.Posts = append(append([]public.Post(nil), s.forged...), page.Posts...)
	}
	return page, err
}

func (s forgingSource) PublicPost(ctx context.Context, id public.PostID) (public.Post, error) {
	for _, p := range s.forged {
		if public.PostID(p.Payload.GetId()) == id {
			return p, nil
		}
	}
	return s.Memory.PublicPost(ctx, id)
}

// TestBadlySignedPostRefused: a Source that returns a post whose signature does not
// verify (flipped, over other bytes, by another key) or whose parsed payload is not what
// was signed gets none of it shown, in lists, feeds, the sitemap or by id.
func TestBadlySignedPostRefused(t *testing.T) {
	f := newFixture(t, public.Config{})
	other, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forge := func(text string, tamper func(p *postv1.Payload) *postv1.Payload) public.Post {
		p := publictest.NewPayload(text+" #kith", publictest.Public, t0+20000)
		pl := tamper(p)
		f.secrets = append(f.secrets, publictest.ID(p))
		return public.Post{Envelope: publictest.Sign(f.key, p), Payload: pl}
	}
	var forged []public.Post
	// The signature's first byte flipped.
	p := forge("FORGED-TEXT-1", func(p *postv1.Payload) *postv1.Payload { return p })
	p.Envelope.Signature[0] ^= 1
	forged = append(forged, p)
	// The signed bytes replaced by others, signature kept.
	p = forge("FORGED-TEXT-2", func(p *postv1.Payload) *postv1.Payload { return p })
	p.Payload = proto.Clone(p.Payload).(*postv1.Payload)
	p.Payload.Text = "FORGED-TEXT-2b other words #kith"
	if p.Envelope.Payload, err = proto.Marshal(p.Payload); err != nil {
		t.Fatal(err)
	}
	forged = append(forged, p)
	// Signed by another key, claiming the person as signer and author.
	p3 := publictest.NewPayload("FORGED-TEXT-3 #kith", publictest.Public, t0+21000)
	env := publictest.Sign(other, p3)
	env.Signer = f.key.Public().Bytes()
	p3.Author = f.key.Public().Bytes()
	forged = append(forged, public.Post{Envelope: env, Payload: p3})
	f.secrets = append(f.secrets, publictest.ID(p3))
	// A well-signed post served with a parsed payload that says something else: pages
	// must show what was signed.
	good := publictest.NewPayload("SIGNED-TEXT the words the person wrote #kith", publictest.Public, t0+22000)
	goodEnv := publictest.Sign(f.key, good)
	swapped := proto.Clone(good).(*postv1.Payload)
	swapped.Text = "FORGED-TEXT-4 words the person never signed #kith"
	forged = append(forged, public.Post{Envelope: goodEnv, Payload: swapped})
	f.secrets = append(f.secrets, "FORGED-TEXT")

	h, err := public.NewHandler(public.Config{Source: forgingSource{f.src, forged}, BaseURL: "https://alice.example",
		RatePerSecond: -1, PageSize: 100, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	for round := range 2 { // the second round is answered from the caches
		for _, target := range []string{"/", "/feed.atom", "/feed.json", "/sitemap.xml", "/tags/kith"} {
			a := f.get(t, target, http.StatusOK)
			f.noSecrets(t, "forging source: GET "+target, a)
			if !strings.Contains(a.Body, publictest.ID(f.pubA)) {
				t.Errorf("round %d: GET %s lost the well-signed public post", round, target)
			}
			if !strings.Contains(a.Body, publictest.ID(good)) {
				t.Errorf("round %d: GET %s lost the well-signed post its Source misparsed", round, target)
			}
		}
	}
	if a := f.get(t, "/", http.StatusOK); !strings.Contains(a.Body, "SIGNED-TEXT") {
		t.Errorf("the index does not show the signed text of a misparsed post")
	}
	unknown := make([]byte, 16)
	rand.Read(unknown)
	notFound := f.get(t, "/p/"+publictest.ID(&postv1.Payload{Id: unknown}), http.StatusNotFound)
	for _, p := range forged[:3] {
		for _, suffix := range []string{"", ".json"} {
			target := "/p/" + publictest.ID(p.Payload) + suffix
			a := f.get(t, target, http.StatusNotFound)
			f.noSecrets(t, "forging source: GET "+target, a)
			if a.Body != notFound.Body {
				t.Errorf("GET %s answers %q, an unknown id %q", target, a.Body, notFound.Body)
			}
		}
	}
	if a := f.get(t, "/p/"+publictest.ID(good)+".json", http.StatusOK); !strings.Contains(a.Body, "SIGNED-TEXT") || strings.Contains(a.Body, "FORGED") {
		t.Errorf("/p/ID.json of a misparsed post does not show exactly the signed post:\n%s", a.Body)
	}
}
