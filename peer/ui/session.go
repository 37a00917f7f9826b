package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// sessionTTL is how long a login lasts without use.
const sessionTTL = 12 * time.Hour

type session struct {
	csrf    string
	expires time.Time
}

// sessions are the logged-in browsers, in memory: a restart logs everyone out.
type sessions struct {
	mu     sync.Mutex
	byID   map[string]*session
	cookie string // the cookie's name carries the port, so two homes' apps on one host do not clash
	secure bool
	now    func() time.Time
}

func randomString() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// start makes a session and sets its cookie.
func (s *sessions) start(w http.ResponseWriter) {
	id := randomString()
	s.mu.Lock()
	s.byID[id] = &session{csrf: randomString(), expires: s.now().Add(sessionTTL)}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.secure})
}

// get returns the request's live session, or nil.
func (s *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(s.cookie)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.byID[c.Value]
	if ss == nil {
		return nil
	}
	now := s.now()
	if now.After(ss.expires) {
		delete(s.byID, c.Value)
		return nil
	}
	ss.expires = now.Add(sessionTTL)
	return ss
}

// end forgets the request's session and clears its cookie.
func (s *sessions) end(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(s.cookie); err == nil {
		s.mu.Lock()
		delete(s.byID, c.Value)
		s.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.secure})
}

// validCSRF compares a presented CSRF token with the session's in constant time.
func (ss *session) validCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(ss.csrf)) == 1
}
