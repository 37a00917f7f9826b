package ui

import (
	"context"
	"errors"
	"html"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
	"github.com/kithnet/kith/shared/tlstest"
)

// logBuffer is a log destination that tests read while a server writes.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testConfig(home, addr string) Config {
	return Config{Addr: addr, Home: home, API: localv1.UnimplementedLocalServiceServer{}, Blobs: noBlobs{}, Changes: NewSignal()}
}

// serve runs s until the test ends and waits until its URL is published in the home.
func serve(t *testing.T, s *Server) {
	t.Helper()
	var log logBuffer
	s.cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve after its context ended: %v, want nil", err)
		}
		if strings.Contains(log.String(), "web app stopped") {
			t.Errorf("a clean stop was logged as an error: %q", log.String())
		}
		if _, err := os.Stat(filepath.Join(dir(s.cfg.Home), "url")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the URL file outlived the web app: %v", err)
		}
	})
	for i := 0; ; i++ {
		if u, err := URL(s.cfg.Home); err == nil && u == s.URL() {
			return
		}
		if i == 100 {
			t.Fatal("the web app never published its URL")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tokenOf returns the token of a login link.
func tokenOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Path != "/login" {
		t.Fatalf("login link %q: %v", link, err)
	}
	return u.Query().Get("token")
}

// TestLoginLinks: URL names the web app only while something answers at the address its
// home names; a login link (LoginURL) or page (LoginFile, mode 0600) carries a fresh
// one-time token, and using it removes the page.
func TestLoginLinks(t *testing.T) {
	home := t.TempDir()
	if _, err := URL(home); !errors.Is(err, ErrNoUI) {
		t.Errorf("URL without a web app: %v, want ErrNoUI", err)
	}
	if _, err := LoginURL(home); !errors.Is(err, ErrNoUI) {
		t.Errorf("LoginURL without a web app: %v, want ErrNoUI", err)
	}
	if _, _, err := LoginFile(home); !errors.Is(err, ErrNoUI) {
		t.Errorf("LoginFile without a web app: %v, want ErrNoUI", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr().String()
	ln.Close()
	for _, u := range []string{"http://" + gone + "/", "http://%zz/"} {
		if err := writeURL(home, u); err != nil {
			t.Fatal(err)
		}
		if _, err := URL(home); !errors.Is(err, ErrNoUI) {
			t.Errorf("URL with %q in the home: %v, want ErrNoUI", u, err)
		}
	}
	os.Remove(filepath.Join(dir(home), "url"))
	os.Mkdir(filepath.Join(dir(home), "url"), 0o700) // unreadable as a file: an error, not ErrNoUI
	if _, err := URL(home); err == nil || errors.Is(err, ErrNoUI) {
		t.Errorf("URL with a directory for the file: %v, want the read error", err)
	}
	os.Remove(filepath.Join(dir(home), "url"))

	s, err := Listen(testConfig(home, "127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	serve(t, s)
	link, err := LoginURL(home)
	if err != nil || !strings.HasPrefix(link, s.URL()+"login?token=") {
		t.Fatalf("LoginURL: %q, %v; want %slogin?token=...", link, err, s.URL())
	}
	if tok := tokenOf(t, link); !consumeToken(home, tok, time.Now()) {
		t.Error("LoginURL's token was refused")
	}

	page, link, err := LoginFile(home)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(page)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("login page: %v, mode %v; want mode 0600", err, info.Mode())
	}
	b, _ := os.ReadFile(page)
	if !strings.Contains(string(b), html.EscapeString(link)) {
		t.Errorf("the login page does not send to %s:\n%s", link, b)
	}
	if !consumeToken(home, tokenOf(t, link), time.Now()) {
		t.Fatal("LoginFile's token was refused")
	}
	if _, err := os.Stat(page); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the login page stayed after its token was used: %v", err)
	}

	// A page that cannot be written: no link is handed out.
	os.RemoveAll(filepath.Join(dir(home), "open"))
	os.WriteFile(filepath.Join(dir(home), "open"), nil, 0o600)
	if _, _, err := LoginFile(home); err == nil {
		t.Error("LoginFile wrote no page and gave no error")
	}
}

// TestSweep: a token or login page lives exactly TokenTTL; sweeping removes only those
// older than that.
func TestSweep(t *testing.T) {
	home := t.TempDir()
	now := time.Now()
	mk := func(sub, name string, age time.Duration) string {
		t.Helper()
		p := filepath.Join(dir(home), sub, name)
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keep := []string{mk("tokens", "fresh", 0), mk("tokens", "edge", TokenTTL), mk("open", "edge.html", TokenTTL)}
	drop := []string{mk("tokens", "old", TokenTTL+time.Millisecond), mk("open", "old.html", TokenTTL+time.Millisecond)}
	sweep(home, now)
	for _, p := range keep {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s, exactly TokenTTL old or younger, was swept: %v", p, err)
		}
	}
	for _, p := range drop {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s, older than TokenTTL, stayed: %v", p, err)
		}
	}
}

// TestMintTokenErrors: a home where the token cannot be written gives an error, never a
// token that would not log in.
func TestMintTokenErrors(t *testing.T) {
	for name, prep := range map[string]func(home string){
		"tokens is a file": func(home string) {
			os.MkdirAll(dir(home), 0o700)
			os.WriteFile(filepath.Join(dir(home), "tokens"), nil, 0o600)
		},
		"tokens is read-only": func(home string) {
			os.MkdirAll(filepath.Join(dir(home), "tokens"), 0o500)
		},
	} {
		home := t.TempDir()
		prep(home)
		if name == "tokens is read-only" && os.Geteuid() == 0 {
			continue // root writes anyway
		}
		if tok, err := MintToken(home); err == nil {
			t.Errorf("%s: MintToken gave %q and no error", name, tok)
		}
	}
}

// TestListenAddresses: the URL names localhost for an unspecified host; a busy default
// address falls back to a free port on the same host; any other busy address is an error.
func TestListenAddresses(t *testing.T) {
	c := tlstest.SelfSigned(t)
	cfg := testConfig(t.TempDir(), ":0")
	cfg.TLSCert, cfg.TLSKey, cfg.Password = c.CertFile, c.KeyFile, "pw"
	s, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.ln.Close()
	if !strings.HasPrefix(s.URL(), "https://localhost:") {
		t.Errorf("bound to :0, URL %s; want https://localhost:PORT/", s.URL())
	}

	s, err = Listen(testConfig(t.TempDir(), "127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	s.ln.Close()
	if want := "http://" + s.ln.Addr().String() + "/"; s.URL() != want {
		t.Errorf("bound to 127.0.0.1, URL %s; want %s", s.URL(), want)
	}

	busy, err := net.Listen("tcp", DefaultAddr)
	if err == nil { // else something else holds it already, which is the case tested
		t.Cleanup(func() { busy.Close() })
	} else if !errors.Is(err, syscall.EADDRINUSE) {
		t.Skipf("cannot bind %s: %v", DefaultAddr, err)
	}
	var log logBuffer
	cfg = testConfig(t.TempDir(), DefaultAddr)
	cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
	s, err = Listen(cfg)
	if err != nil {
		t.Fatalf("the default address busy: %v, want a free port", err)
	}
	s.ln.Close()
	if got := s.ln.Addr().String(); got == DefaultAddr || !strings.HasPrefix(got, "127.0.0.1:") {
		t.Errorf("the default address busy: bound %s, want another port on 127.0.0.1", got)
	}
	if !strings.Contains(log.String(), "usual address is busy") {
		t.Errorf("the fallback to another port was not logged: %q", log.String())
	}
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if _, err := Listen(testConfig(t.TempDir(), held.Addr().String())); !errors.Is(err, ErrListen) {
		t.Errorf("a busy address that is not the default: %v, want ErrListen", err)
	}
}

// TestServeNeedsItsHome: a web app that cannot publish its URL in the home does not serve.
func TestServeNeedsItsHome(t *testing.T) {
	home := t.TempDir()
	s, err := Listen(testConfig(home, "127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	var log logBuffer
	s.cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
	os.WriteFile(dir(home), nil, 0o600) // home/ui is a file
	if err := s.Serve(context.Background()); err == nil {
		t.Fatal("Serve without a writable home returned nil")
	}
	if !strings.Contains(log.String(), "web app stopped") {
		t.Errorf("Serve's error was not logged: %q", log.String())
	}
	if c, err := net.Dial("tcp", s.ln.Addr().String()); err == nil {
		c.Close()
		t.Error("the listener stayed open after Serve failed")
	}
}

// TestLoginWithABadToken: without a password, a wrong token is refused with the plain
// form (no password field) and no session.
func TestLoginWithABadToken(t *testing.T) {
	s, err := Listen(testConfig(t.TempDir(), "127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.ln.Close()
	r := httptest.NewRequest("GET", "/login?token=not-a-token", nil)
	r.Host = s.ln.Addr().String()
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusForbidden || len(w.Result().Cookies()) != 0 || strings.Contains(w.Body.String(), `id="password"`) ||
		!strings.Contains(w.Body.String(), "wrong, expired or already used") {
		t.Fatalf("a bad token: %d, cookies %v; want 403, the form without a password field:\n%s", w.Code, w.Result().Cookies(), w.Body)
	}
}
