package public_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/shared/identity"
)

// emptySource is a node that has published nothing yet.
type emptySource struct{ id identity.PublicKey }

func (s emptySource) Profile(context.Context) (public.Profile, error) {
	return public.Profile{ID: s.id}, nil
}

func (emptySource) PublicPosts(context.Context, public.Query) (public.Page, error) {
	return public.Page{}, nil
}

func (emptySource) PublicPost(context.Context, public.PostID) (public.Post, error) {
	return public.Post{}, public.ErrNotFound
}

func (emptySource) PublicBlob(context.Context, [32]byte) (public.Blob, error) {
	return public.Blob{}, public.ErrNotFound
}

// The daemon builds the handler from its flags and serves it with public.Serve; here
// httptest stands in for the network.
func ExampleHandler() {
	h := public.Handler(public.Config{
		Source:  emptySource{},
		BaseURL: "https://alice.example",
		NoIndex: true, // --public-noindex
	})
	for _, path := range []string{"/", "/p/00112233445566778899aabbccddeeff", "/p/nope", "/blob/../etc/passwd"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Println(path, w.Code, w.Header().Get("X-Robots-Tag"))
	}
	// Output:
	// / 200 noindex
	// /p/00112233445566778899aabbccddeeff 404 noindex
	// /p/nope 400 noindex
	// /blob/../etc/passwd 400 noindex
}
