package ui

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSessionExpiry: a session lasts sessionTTL from its last use; used within it, it
// slides on; unused past it, it is gone for good.
func TestSessionExpiry(t *testing.T) {
	l := newLoggedIn(t)
	now := time.Now()
	l.s.sessions.now = func() time.Time { return now }
	get := func() int {
		r := httptest.NewRequest("GET", "/friends", nil)
		r.Host = l.host
		r.AddCookie(l.cookie)
		w := httptest.NewRecorder()
		l.s.Handler().ServeHTTP(w, r)
		return w.Code
	}
	// The login stamped the session with the real clock; a use now restamps it.
	if code := get(); code == http.StatusSeeOther {
		t.Fatal("a fresh session was sent to the login page")
	}
	now = now.Add(sessionTTL) // exactly the TTL since the last use: still valid
	if code := get(); code == http.StatusSeeOther {
		t.Fatal("a session used exactly sessionTTL ago was dropped")
	}
	now = now.Add(sessionTTL - time.Second) // used again within the TTL: it slid on
	if code := get(); code == http.StatusSeeOther {
		t.Fatal("a session in use expired")
	}
	now = now.Add(sessionTTL + time.Millisecond)
	if code := get(); code != http.StatusSeeOther {
		t.Fatalf("a session unused for longer than sessionTTL: %d, want the login page", code)
	}
	if _, ok := l.s.sessions.byID[l.cookie.Value]; ok {
		t.Fatal("an expired session stayed in memory")
	}
	now = now.Add(-time.Hour) // back in time: an expired session does not come back
	if code := get(); code != http.StatusSeeOther {
		t.Fatalf("an expired session came back: %d", code)
	}
}

// TestUnknownSession: a cookie naming no session is no login, for pages and for POSTs.
func TestUnknownSession(t *testing.T) {
	l := newLoggedIn(t)
	for _, tc := range []struct {
		method, path string
		want         int
	}{{"GET", "/", http.StatusSeeOther}, {"HEAD", "/", http.StatusUnauthorized}, {"GET", "/events", http.StatusUnauthorized},
		{"POST", "/post", http.StatusUnauthorized}} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		r.Host = l.host
		r.AddCookie(&http.Cookie{Name: l.cookie.Name, Value: l.cookie.Value + "x"})
		w := httptest.NewRecorder()
		l.s.Handler().ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s %s with a forged session cookie: %d, want %d", tc.method, tc.path, w.Code, tc.want)
		}
	}
}

// TestTokenEdges: a login token is refused when empty or over 100 characters, and is
// good for exactly TokenTTL after it was minted.
func TestTokenEdges(t *testing.T) {
	home := t.TempDir()
	now := time.Now()
	for _, tok := range []string{"", strings.Repeat("a", 101)} {
		p := tokenPath(home, tok)
		os.MkdirAll(filepath.Dir(p), 0o700)
		os.WriteFile(p, nil, 0o600) // a file for it, so only the length check can refuse it
		if consumeToken(home, tok, now) {
			t.Errorf("a token of %d characters was accepted", len(tok))
		}
	}
	tok100 := strings.Repeat("b", 100)
	p := tokenPath(home, tok100)
	os.WriteFile(p, nil, 0o600)
	if !consumeToken(home, tok100, now) {
		t.Error("a token of 100 characters (with its file) was refused")
	}
	tok, _ := MintToken(home)
	info, _ := os.Stat(tokenPath(home, tok))
	if !consumeToken(home, tok, info.ModTime().Add(TokenTTL)) {
		t.Error("a token used exactly TokenTTL after minting was refused")
	}
	tok, _ = MintToken(home)
	info, _ = os.Stat(tokenPath(home, tok))
	if consumeToken(home, tok, info.ModTime().Add(TokenTTL+time.Millisecond)) {
		t.Error("a token used after TokenTTL was accepted")
	}
}

// TestHostCheckBeyondLoopback: bound beyond loopback (TLS and a password), any Host is
// accepted (the certificate names the host); on loopback the port must match.
func TestHostCheckBeyondLoopback(t *testing.T) {
	s := &Server{cfg: Config{Addr: "0.0.0.0:0", TLSCert: "c", TLSKey: "k", Password: "pw"}}
	if !s.allowedHost("anything.example:1") {
		t.Error("beyond loopback with TLS and a password, a Host was refused")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	for _, cfg := range []Config{{Addr: "127.0.0.1:0", TLSCert: "c", TLSKey: "k", Password: "pw"}, {Addr: "127.0.0.1:0"}} {
		s := &Server{cfg: cfg, ln: ln}
		_, port, _ := strings.Cut(ln.Addr().String(), ":")
		if s.allowedHost("evil.example:" + port) {
			t.Errorf("%+v: a foreign Host on the bound port was accepted", cfg)
		}
		if !s.allowedHost("LocalHost:" + port) {
			t.Errorf("%+v: localhost in capitals was refused", cfg)
		}
		if s.allowedHost("localhost:1") || s.allowedHost("localhost") {
			t.Errorf("%+v: localhost on another port, or with none, was accepted", cfg)
		}
	}
}

// TestReadsNeedNoToken: with a session, GET and HEAD need no CSRF token (they change
// nothing); every other method does.
func TestReadsNeedNoToken(t *testing.T) {
	l := newLoggedIn(t)
	h := l.s.authed(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, tc := range []struct {
		method string
		want   int
	}{{"GET", http.StatusNoContent}, {"HEAD", http.StatusNoContent}, {"POST", http.StatusForbidden},
		{"PUT", http.StatusForbidden}, {"DELETE", http.StatusForbidden}} {
		r := httptest.NewRequest(tc.method, "/x", nil)
		r.AddCookie(l.cookie)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s with a session and no token: %d, want %d", tc.method, w.Code, tc.want)
		}
	}
}

// TestNoConversationRoutesWithoutConversations: a web app without the conversation
// service serves none of its routes (they would have nothing to call).
func TestNoConversationRoutesWithoutConversations(t *testing.T) {
	l := newLoggedIn(t)
	r := httptest.NewRequest("GET", "/notifications", nil)
	r.Host = l.host
	r.AddCookie(l.cookie)
	w := httptest.NewRecorder()
	l.s.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusNotFound {
		t.Errorf("GET /notifications without conversations: %d, want 404", w.Code)
	}
}
