package public

import (
	"bytes"
	"net/http"
)

// onePost answers the post named by the path segment raw, or refuses and reports !ok.
// It does not trust the Source's parsed payload: it verifies the envelope again and
// checks the verified payload, because the envelope's bytes are what /p/ID.json shows.
func (s *server) onePost(w http.ResponseWriter, r *http.Request, raw string) (Profile, Post, bool) {
	id, err := ParsePostID(raw)
	if err != nil {
		refuse(w, http.StatusBadRequest, err.Error())
		return Profile{}, Post{}, false
	}
	ctx, cancel := s.sourceCtx(r)
	defer cancel()
	prof, err := s.cfg.Source.Profile(ctx)
	if err != nil {
		s.fail(w, r, err)
		return prof, Post{}, false
	}
	got, err := s.cfg.Source.PublicPost(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return prof, Post{}, false
	}
	post, err := OpenPost(got.Envelope)
	if err == nil {
		err = checkPublic(post, prof.ID)
	}
	if err == nil && !bytes.Equal(post.Payload.GetId(), id[:]) {
		err = errNotPublic
	}
	if err != nil {
		// A faulty Source: answer as for an unknown id, so nothing of the post shows.
		s.log.Error("public: source returned a post it must not; answered 404", "id", id, "err", err)
		refuse(w, http.StatusNotFound, "not found")
		return prof, Post{}, false
	}
	return prof, post, true
}
