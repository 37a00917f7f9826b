package public

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"time"
)

// serveBody answers with a rendered body: a strong ETag from its hash, Last-Modified
// from modified, and http.ServeContent for If-None-Match, If-Modified-Since, HEAD and
// Range. Answers are revalidated on every use (no-cache), so that a post that
// disappears disappears from caches at once too.
func serveBody(w http.ResponseWriter, r *http.Request, contentType string, modified time.Time, body []byte) {
	serveRendered(w, r, contentType, modified, newRendered(body))
}

// serveRendered is serveBody for a body whose ETag is known.
func serveRendered(w http.ResponseWriter, r *http.Request, contentType string, modified time.Time, rd rendered) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("ETag", rd.etag)
	h.Set("Cache-Control", "public, no-cache")
	if modified.IsZero() || modified.Unix() <= 0 {
		modified = time.Unix(1, 0) // nothing was ever published: still a valid Last-Modified
	}
	http.ServeContent(w, r, "", modified.UTC().Truncate(time.Second), bytes.NewReader(rd.body))
}

// fail answers a Source error with its status: 404 and 410 as the contract says, 400
// for a bad cursor, 503 when the Source was too slow, 500 (logged) for the rest, and
// nothing when the client has gone.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away: nobody to answer
	}
	switch {
	case errors.Is(err, ErrNotFound):
		refuse(w, http.StatusNotFound, "not found")
	case errors.Is(err, ErrGone):
		refuse(w, http.StatusGone, "this post was public and no longer is")
	case errors.Is(err, ErrBadCursor):
		refuse(w, http.StatusBadRequest, "malformed pagination cursor")
	case errors.Is(err, context.DeadlineExceeded):
		s.log.Warn("public: source too slow", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		refuse(w, http.StatusServiceUnavailable, "busy; retry later")
	default:
		s.log.Error("public: source failed", "path", r.URL.Path, "err", err)
		refuse(w, http.StatusInternalServerError, "internal error")
	}
}

// base is the origin links are made absolute with: Config.BaseURL (kith daemon
// --public-url), or "" when unset, and then links are relative. It is never taken from the
// request: a Host header is the client's to choose, and echoing it into canonical links,
// OpenGraph and feeds would let anyone make the person's pages vouch for their domain
// (and poison caches in front of them).
func (s *server) base(*http.Request) string { return s.cfg.BaseURL }

// afterParam reads the one query parameter the lists take: the pagination cursor.
func afterParam(r *http.Request) (string, error) {
	vals := r.URL.Query()["after"]
	if len(vals) == 0 {
		return "", nil
	}
	if len(vals) > 1 || !validCursor(vals[0]) {
		return "", ErrBadCursor
	}
	return vals[0], nil
}
