package public

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
)

// server is the HTTP face; Handler builds it from a Config.
type server struct {
	cfg    Config
	log    *slog.Logger
	pages  *template.Template
	limit  *limiter // nil when the rate limit is off
	cache  entryCache
	bodies bodyCache
	opened verifiedCache
}

// NewHandler returns the HTTP face described by cfg, or an error saying what in cfg is
// wrong.
func NewHandler(cfg Config) (http.Handler, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	pages, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, log: cfg.Logger, pages: pages,
		cache: entryCache{m: map[string]template.HTML{}}, bodies: bodyCache{m: map[[32]byte]rendered{}},
		opened: verifiedCache{m: map[[32]byte]*postv1.Payload{}}}
	if cfg.RatePerSecond > 0 {
		s.limit = newLimiter(cfg.RatePerSecond, cfg.RateBurst, cfg.Clock)
	}
	return s, nil
}

// Handler is NewHandler for a Config known to be valid: it panics if cfg.Source is nil or
// cfg.BaseURL is not an absolute http(s) URL.
func Handler(cfg Config) http.Handler {
	h, err := NewHandler(cfg)
	if err != nil {
		panic(err)
	}
	return h
}

// ServeHTTP refuses what it must (rate, method, size, path), then routes.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.securityHeaders(w.Header())
	if s.limit != nil {
		if ok, retry := s.limit.allow(s.cfg.ClientAddr(r)); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int((retry+time.Second-1)/time.Second))))
			refuse(w, http.StatusTooManyRequests, "too many requests from your address; retry later")
			return
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		refuse(w, http.StatusMethodNotAllowed, "only GET and HEAD are served here")
		return
	}
	if len(r.URL.RawQuery) > s.cfg.MaxQuery || len(r.URL.EscapedPath()) > s.cfg.MaxPath {
		refuse(w, http.StatusRequestURITooLong, "request URI too long")
		return
	}
	if err := checkPath(r.URL.Path, r.URL.RawPath); err != nil {
		refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	s.route(w, r)
}

func (s *server) route(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch p {
	case "/":
		s.serveIndex(w, r)
	case "/robots.txt":
		s.serveRobots(w, r)
	case "/sitemap.xml":
		s.serveSitemap(w, r)
	case "/feed.atom":
		s.serveAtom(w, r)
	case "/feed.json":
		s.serveJSONFeed(w, r)
	default:
		s.routeTree(w, r, p)
	}
}

// routeTree routes the paths under /p/, /tags/ and /blob/.
func (s *server) routeTree(w http.ResponseWriter, r *http.Request, p string) {
	switch {
	case strings.HasPrefix(p, "/p/"):
		rest := p[len("/p/"):]
		if id, ok := strings.CutSuffix(rest, ".json"); ok {
			s.serveEnvelope(w, r, id)
		} else {
			s.servePost(w, r, rest)
		}
	case strings.HasPrefix(p, "/tags/"):
		s.serveTag(w, r, p[len("/tags/"):])
	case strings.HasPrefix(p, "/blob/"):
		s.serveBlob(w, r, p[len("/blob/"):])
	default:
		refuse(w, http.StatusNotFound, "not found")
	}
}

// securityHeaders are on every answer, refusals included.
func (s *server) securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if s.cfg.NoIndex {
		h.Set("X-Robots-Tag", "noindex")
	}
}

// sourceCtx bounds a call to the Source.
func (s *server) sourceCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.cfg.SourceTimeout)
}

// refuse answers status with a one-line plain-text reason.
func refuse(w http.ResponseWriter, status int, reason string) {
	h := w.Header()
	h.Del("ETag")
	h.Del("Last-Modified")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "%d %s: %s\n", status, http.StatusText(status), reason)
}
