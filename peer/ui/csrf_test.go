package ui

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// postRecorder is the local API as far as the compose form goes: it keeps the posts
// it is asked to make, so a test sees whether a request got through the CSRF checks.
type postRecorder struct {
	localv1.UnimplementedLocalServiceServer
	mu    sync.Mutex
	posts []string
	last  *localv1.CreatePostRequest
	files map[string]string // base name -> content of the last post's attachments
}

func (p *postRecorder) CreatePost(_ context.Context, r *localv1.CreatePostRequest) (*localv1.CreatePostResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.posts = append(p.posts, r.GetText())
	p.last = r
	p.files = map[string]string{}
	for _, f := range r.GetAttachmentPaths() { // the upload's temporary files exist during the call only
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		p.files[filepath.Base(f)] = string(b)
	}
	return &localv1.CreatePostResponse{}, nil
}

func (p *postRecorder) made() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.posts...)
}

// loggedIn is a web app with a logged-in browser session.
type loggedIn struct {
	s      *Server
	api    *postRecorder
	host   string
	cookie *http.Cookie
	csrf   string
}

func newLoggedIn(t *testing.T) *loggedIn {
	t.Helper()
	home := t.TempDir()
	api := &postRecorder{}
	s, err := Listen(Config{Addr: "127.0.0.1:0", Home: home, API: api, Blobs: noBlobs{}, Changes: NewSignal()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.ln.Close() })
	l := &loggedIn{s: s, api: api, host: s.ln.Addr().String()}
	l.cookie, l.csrf = l.login(t)
	return l
}

// login logs a browser in with a fresh token and returns its cookie and CSRF token.
func (l *loggedIn) login(t *testing.T) (*http.Cookie, string) {
	t.Helper()
	tok, err := MintToken(l.s.cfg.Home)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/login?token="+tok, nil)
	r.Host = l.host
	w := httptest.NewRecorder()
	l.s.Handler().ServeHTTP(w, r)
	cs := w.Result().Cookies()
	if w.Code != http.StatusSeeOther || len(cs) != 1 {
		t.Fatalf("login: %d, cookies %v", w.Code, cs)
	}
	l.s.sessions.mu.Lock()
	defer l.s.sessions.mu.Unlock()
	ss := l.s.sessions.byID[cs[0].Value]
	if ss == nil || ss.csrf == "" {
		t.Fatal("login made no session with a CSRF token")
	}
	return cs[0], ss.csrf
}

func (l *loggedIn) do(t *testing.T, path, contentType, header string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("POST", path, bytes.NewReader(body))
	r.Host = l.host
	r.AddCookie(l.cookie)
	r.Header.Set("Content-Type", contentType)
	if header != "" {
		r.Header.Set("X-CSRF-Token", header)
	}
	w := httptest.NewRecorder()
	l.s.Handler().ServeHTTP(w, r)
	return w
}

// field is one form field, in order.
type field struct{ name, value string }

func multipartBody(t *testing.T, fields ...field) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range fields {
		if err := mw.WriteField(f.name, f.value); err != nil {
			t.Fatal(err)
		}
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

func formBody(fields ...field) (string, []byte) {
	v := url.Values{}
	for _, f := range fields {
		v.Add(f.name, f.value)
	}
	return "application/x-www-form-urlencoded", []byte(v.Encode())
}

// wrongToken is as long as a real token and differs from it in its last character
// only, so a check that compared lengths or prefixes would take it.
func wrongToken(tok string) string {
	last := "A"
	if strings.HasSuffix(tok, "A") {
		last = "B"
	}
	return tok[:len(tok)-1] + last
}

// TestCSRF: every state-changing request needs the session's own token, in the
// X-CSRF-Token header (a script) or as the csrf field (a form without script; in the
// multipart compose form it must be the first field). A wrong token is refused as a
// missing one is, and a refused request changes nothing.
func TestCSRF(t *testing.T) {
	l := newLoggedIn(t)
	_, otherCSRF := l.login(t) // a second browser's session: its token is not ours
	tok := l.csrf
	type form func(t *testing.T, fields ...field) (string, []byte)
	urlencoded := func(_ *testing.T, fields ...field) (string, []byte) { return formBody(fields...) }
	tests := []struct {
		name   string
		body   form
		header string
		fields []field
		want   int
	}{
		{"form: no token", urlencoded, "", []field{{"text", "p"}}, http.StatusForbidden},
		{"form: wrong token", urlencoded, "", []field{{"csrf", wrongToken(tok)}, {"text", "p"}}, http.StatusForbidden},
		{"form: another session's token", urlencoded, "", []field{{"csrf", otherCSRF}, {"text", "p"}}, http.StatusForbidden},
		{"form: the token", urlencoded, "", []field{{"csrf", tok}, {"text", "form"}}, http.StatusSeeOther},
		{"script: wrong header", urlencoded, wrongToken(tok), []field{{"text", "p"}}, http.StatusForbidden},
		{"script: wrong header beats a right field", urlencoded, wrongToken(tok), []field{{"csrf", tok}, {"text", "p"}}, http.StatusForbidden},
		{"script: the header", urlencoded, tok, []field{{"text", "script"}}, http.StatusSeeOther},
		{"multipart: no token", multipartBody, "", []field{{"text", "p"}}, http.StatusForbidden},
		{"multipart: no field at all", multipartBody, "", nil, http.StatusForbidden},
		{"multipart: wrong token first", multipartBody, "", []field{{"csrf", wrongToken(tok)}, {"text", "p"}}, http.StatusForbidden},
		{"multipart: another session's token", multipartBody, "", []field{{"csrf", otherCSRF}, {"text", "p"}}, http.StatusForbidden},
		{"multipart: the token after the text", multipartBody, "", []field{{"text", "p"}, {"csrf", tok}}, http.StatusForbidden},
		{"multipart: the token first (no script)", multipartBody, "", []field{{"csrf", tok}, {"text", "no script"}, {"to", "friends"}}, http.StatusSeeOther},
		{"multipart: wrong header, right field", multipartBody, wrongToken(tok), []field{{"csrf", tok}, {"text", "p"}}, http.StatusForbidden},
		{"multipart: the header (script)", multipartBody, tok, []field{{"text", "multipart script"}}, http.StatusSeeOther},
		{"multipart: the header, a wrong field after", multipartBody, tok, []field{{"text", "p"}, {"csrf", wrongToken(tok)}}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(l.api.made())
			ct, body := tt.body(t, tt.fields...)
			w := l.do(t, "/post", ct, tt.header, body)
			if w.Code != tt.want {
				t.Fatalf("POST /post: %d %q, want %d", w.Code, w.Body.String(), tt.want)
			}
			made := l.api.made()
			if tt.want != http.StatusSeeOther {
				if !strings.Contains(w.Body.String(), "CSRF") {
					t.Errorf("refusal %q does not say why", w.Body.String())
				}
				if len(made) != before {
					t.Fatalf("a refused request made a post: %q", made[before:])
				}
				return
			}
			if len(made) != before+1 || made[before] != textOf(tt.fields) {
				t.Fatalf("an accepted request made the posts %q, want one: %q", made[before:], textOf(tt.fields))
			}
		})
	}
}

func textOf(fields []field) string {
	for _, f := range fields {
		if f.name == "text" {
			return f.value
		}
	}
	return ""
}

// TestCSRFOtherRoutes: the multipart exception is the compose form's alone; any other
// state-changing route needs the token as a header or a url-encoded field.
func TestCSRFOtherRoutes(t *testing.T) {
	l := newLoggedIn(t)
	ct, body := multipartBody(t, field{"csrf", l.csrf})
	if w := l.do(t, "/logout", ct, "", body); w.Code != http.StatusForbidden {
		t.Fatalf("multipart POST /logout without the header: %d, want 403", w.Code)
	}
	ct, body = formBody(field{"csrf", wrongToken(l.csrf)})
	if w := l.do(t, "/logout", ct, "", body); w.Code != http.StatusForbidden {
		t.Fatalf("POST /logout with a wrong token: %d, want 403", w.Code)
	}
	if l.s.sessions.byID[l.cookie.Value] == nil {
		t.Fatal("a refused logout ended the session")
	}
	ct, body = formBody(field{"csrf", l.csrf})
	w := l.do(t, "/logout", ct, "", body)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("POST /logout with the token: %d, want 303", w.Code)
	}
	if cs := w.Result().Cookies(); len(cs) != 1 || cs[0].Name != l.cookie.Name || cs[0].Value != "" || cs[0].MaxAge >= 0 {
		t.Fatalf("logout set the cookies %v, want the session cookie cleared (empty, MaxAge < 0)", cs)
	}
	if l.s.sessions.byID[l.cookie.Value] != nil {
		t.Fatal("logout left the session")
	}
}
