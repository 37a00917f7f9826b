package ui

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

//go:embed static
var staticFS embed.FS

// csp allows nothing but this origin's own scripts, styles, images, video, audio and
// requests.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Server is the web app, listening.
type Server struct {
	cfg      Config
	ln       net.Listener
	url      string
	sessions *sessions
	pages    *pages
	handler  http.Handler
	thumbSem chan struct{}
}

// Listen checks cfg and binds its address; Serve then answers on it.
func Listen(cfg Config) (*Server, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	pg, err := parsePages()
	if err != nil {
		return nil, err
	}
	ln, err := listen(cfg)
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	host, _, _ := net.SplitHostPort(cfg.Addr)
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() || host == "" {
		host = "localhost"
	}
	s := &Server{cfg: cfg, ln: ln, pages: pg, thumbSem: make(chan struct{}, 2),
		url: scheme + "://" + net.JoinHostPort(host, port) + "/",
		sessions: &sessions{byID: map[string]*session{}, cookie: "kith_session_" + port,
			secure: cfg.TLSCert != "", now: time.Now}}
	s.handler = s.routes()
	return s, nil
}

// listen binds cfg.Addr. When that is the default address and it is busy (a second
// daemon on the same machine, most likely), it takes a free port on the same host
// instead and says so: 'kith ui' finds the address in the home, whatever it is.
func listen(cfg Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil && cfg.Addr == DefaultAddr && errors.Is(err, syscall.EADDRINUSE) {
		host, _, _ := net.SplitHostPort(cfg.Addr)
		if ln, err = net.Listen("tcp", net.JoinHostPort(host, "0")); err == nil {
			cfg.Logger.Warn("the web app's usual address is busy (another daemon?); using a free port instead",
				"busy", cfg.Addr, "addr", ln.Addr().String())
			return ln, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w on %s: %w (pick another address with --ui ADDR, or --ui off)", ErrListen, cfg.Addr, err)
	}
	return ln, nil
}

// URL is the web app's address, without a token.
func (s *Server) URL() string { return s.url }

// Handler is the web app's HTTP handler (for tests that serve it themselves).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers until ctx ends, then shuts down. It publishes the URL in the home for
// `kith ui` while it runs. Errors are logged as well as returned.
func (s *Server) Serve(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			s.cfg.Logger.Error("web app stopped", "err", err)
		}
	}()
	if err := writeURL(s.cfg.Home, s.url); err != nil {
		s.ln.Close()
		return fmt.Errorf("web app: %w", err)
	}
	defer os.Remove(filepath.Join(dir(s.cfg.Home), "url"))
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelDebug)}
	done := make(chan error, 1)
	go func() {
		if s.cfg.TLSCert != "" {
			done <- srv.ServeTLS(s.ln, s.cfg.TLSCert, s.cfg.TLSKey)
		} else {
			done <- srv.Serve(s.ln)
		}
	}()
	s.cfg.Logger.Info("serving the web app", "url", s.url)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	auth := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.authed(h)) }
	auth("GET /{$}", s.timelinePage)
	auth("GET /posts", s.timelineFragment)
	auth("GET /events", s.events)
	auth("GET /blob/{sha}", s.blob)
	auth("GET /thumb/{sha}", s.thumb)
	// The compose form is multipart: without a script it carries the token as its first
	// field, which createPost checks before it reads anything else.
	mux.Handle("POST /post", s.authedMultipart(s.createPost))
	auth("POST /post/{id}/edit", s.editPost)
	auth("POST /post/{id}/delete", s.deletePost)
	auth("GET /friends", s.friendsPage)
	auth("GET /qr.png", s.qr)
	auth("POST /friends", s.saveFriend)
	auth("POST /friends/{id}/remove", s.removeFriend)
	auth("GET /connections", s.connectionsPage)
	auth("POST /sync", s.syncNow)
	auth("GET /backup", s.backupPage)
	auth("POST /backup/export", s.exportHome)
	auth("POST /backup/key", s.exportKey)
	auth("POST /logout", s.logout)
	auth("GET /devices", s.devicesPage)
	auth("POST /devices/add", s.addDevice)
	auth("POST /devices/remove", s.removeDevice)
	if s.cfg.Conversation != nil {
		s.conversationRoutes(auth)
	}
	return s.guard(mux)
}

// guard sets the security headers on every answer and refuses a foreign Host header,
// which is what a DNS-rebinding page would send.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if !s.allowedHost(r.Host) {
			http.Error(w, "refused: this address is not the kith web app's (Host header "+r.Host+")", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allowedHost accepts the bound address and the loopback names, on the bound port.
// Bound beyond loopback the app needs TLS, whose certificate names the host, so any
// name that reached it over TLS is accepted.
func (s *Server) allowedHost(hostport string) bool {
	if s.cfg.TLSCert != "" && s.cfg.Password != "" {
		if loop, _ := isLoopback(s.cfg.Addr); !loop {
			return true
		}
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	_, boundPort, _ := net.SplitHostPort(s.ln.Addr().String())
	if port != boundPort {
		return false
	}
	boundHost, _, _ := net.SplitHostPort(s.cfg.Addr)
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1", "::1", strings.ToLower(boundHost):
		return true
	}
	return false
}

// authed lets through only a logged-in browser, and for a state-changing request only
// with the session's CSRF token (X-CSRF-Token header, or the csrf form field of a
// url-encoded form). A multipart body without the header is refused: reading its
// fields here would consume the upload.
func (s *Server) authed(h http.HandlerFunc) http.Handler { return s.gate(h, false) }

// authedMultipart is authed for a handler that reads a multipart body as a stream and
// refuses it unless its first field is the csrf field with the session's token (a form
// posted without script carries no header): only then may such a body pass the gate
// without the X-CSRF-Token header.
func (s *Server) authedMultipart(h http.HandlerFunc) http.Handler { return s.gate(h, true) }

func (s *Server) gate(h http.HandlerFunc, checksStream bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ss := s.sessions.get(r)
		if ss == nil {
			if r.Method == http.MethodGet && r.URL.Path != "/events" {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "not logged in: run 'kith ui' for a login link", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			tok := r.Header.Get("X-CSRF-Token") // a script's request: the header decides
			if tok == "" && isMultipart(r) && checksStream {
				h(w, r.WithContext(withSession(r.Context(), ss))) // the handler checks the csrf field first
				return
			}
			if tok == "" && !isMultipart(r) {
				tok = r.PostFormValue("csrf")
			}
			if !ss.validCSRF(tok) {
				http.Error(w, "refused: missing or wrong CSRF token (reload the page)", http.StatusForbidden)
				return
			}
		}
		h(w, r.WithContext(withSession(r.Context(), ss)))
	})
}

func isMultipart(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data")
}

type sessionKey struct{}

func withSession(ctx context.Context, ss *session) context.Context {
	return context.WithValue(ctx, sessionKey{}, ss)
}

func sessionOf(r *http.Request) *session {
	ss, _ := r.Context().Value(sessionKey{}).(*session)
	return ss
}

// loginPage logs in with a token in the URL when no password is needed, else asks.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if token != "" && s.cfg.Password == "" {
		s.tryLogin(w, r, token, "")
		return
	}
	s.pages.render(w, r, "login", http.StatusOK, loginData{Token: token, NeedPassword: s.cfg.Password != ""})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	s.tryLogin(w, r, r.PostFormValue("token"), r.PostFormValue("password"))
}

func (s *Server) tryLogin(w http.ResponseWriter, r *http.Request, token, password string) {
	if s.cfg.Password != "" && subtle.ConstantTimeCompare([]byte(password), []byte(s.cfg.Password)) != 1 {
		s.pages.render(w, r, "login", http.StatusForbidden, loginData{Token: token, NeedPassword: true,
			Error: "Wrong password."})
		return
	}
	if !consumeToken(s.cfg.Home, token, time.Now()) {
		s.pages.render(w, r, "login", http.StatusForbidden, loginData{NeedPassword: s.cfg.Password != "",
			Error: "This login link is wrong, expired or already used. Run 'kith ui' for a new one."})
		return
	}
	s.sessions.start(w)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	s.sessions.end(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

type loginData struct {
	Token        string
	NeedPassword bool
	Error        string
}
