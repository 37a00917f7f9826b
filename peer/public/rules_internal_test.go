package public

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// TestCheckPublic: the handler's own privacy check passes only a public, live post by
// the node's person, signed by them, with a well-formed id; each other case names why.
func TestCheckPublic(t *testing.T) {
	me, other := genKey(t), genKey(t)
	good := func() Post {
		p := &postv1.Payload{Id: make([]byte, 16), Author: me.Public().Bytes(), Version: 1, Text: "hi",
			Visibility: postv1.Visibility_VISIBILITY_PUBLIC}
		env, err := signed.Seal(me, identity.ContextPost, p)
		if err != nil {
			t.Fatal(err)
		}
		return Post{Envelope: env, Payload: p}
	}
	if err := checkPublic(good(), me.Public()); err != nil {
		t.Fatalf("a public post: %v", err)
	}
	for _, tc := range []struct {
		name  string
		bend  func(*Post)
		cause string
	}{
		{"no payload", func(p *Post) { p.Payload = nil }, "missing"},
		{"no envelope", func(p *Post) { p.Envelope = nil }, "missing"},
		{"private", func(p *Post) { p.Payload.Visibility = postv1.Visibility_VISIBILITY_PRIVATE }, "visibility"},
		{"no visibility", func(p *Post) { p.Payload.Visibility = postv1.Visibility_VISIBILITY_UNSPECIFIED }, "visibility"},
		{"tombstone", func(p *Post) { p.Payload.Deleted = true }, "deleted"},
		{"another author", func(p *Post) { p.Payload.Author = other.Public().Bytes() }, "not by"},
		{"another signer", func(p *Post) { p.Envelope.Signer = other.Public().Bytes() }, "not by"},
		{"malformed id", func(p *Post) { p.Payload.Id = p.Payload.Id[:15] }, "malformed id"},
	} {
		p := good()
		tc.bend(&p)
		err := checkPublic(p, me.Public())
		if !errors.Is(err, errNotPublic) || !strings.Contains(err.Error(), tc.cause) {
			t.Errorf("%s: %v, want errNotPublic saying %q", tc.name, err, tc.cause)
		}
	}
}

// TestOpenPostRefuses: OpenPost takes only a post's signature context, a payload whose
// author is its signer, and a 16-byte id.
func TestOpenPostRefuses(t *testing.T) {
	me, other := genKey(t), genKey(t)
	seal := func(ctx identity.Context, p *postv1.Payload) *signedv1.Envelope {
		env, err := signed.Seal(me, ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	ok := &postv1.Payload{Id: make([]byte, 16), Author: me.Public().Bytes(), Visibility: postv1.Visibility_VISIBILITY_PUBLIC}
	if p, err := OpenPost(seal(identity.ContextPost, ok)); err != nil || !proto.Equal(p.Payload, ok) {
		t.Fatalf("OpenPost of a good post: %v", err)
	}
	for name, env := range map[string]*signedv1.Envelope{
		"another context": seal(identity.ContextRegistration, ok),
		"another author":  seal(identity.ContextPost, &postv1.Payload{Id: make([]byte, 16), Author: other.Public().Bytes()}),
		"a 15-byte id":    seal(identity.ContextPost, &postv1.Payload{Id: make([]byte, 15), Author: me.Public().Bytes()}),
		"nothing":         nil,
	} {
		if _, err := OpenPost(env); err == nil {
			t.Errorf("OpenPost of %s succeeded", name)
		}
	}
}

func genKey(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestBaseFromRequest: without a configured BaseURL (--public-url) there is no base at
// all, whatever the request's Host says: links are relative and a Host header can never
// reach a page (issue 13 item 9).
func TestBaseFromRequest(t *testing.T) {
	s := &server{cfg: Config{}}
	long := strings.Repeat("a", 256)
	for _, tc := range []struct {
		host string
		tls  bool
	}{
		{"alice.example:8080", false}, {"alice.example", true}, {"[2001:db8::1]:80", false},
		{"ALICE-1.example", false}, {`evil.example/"><script>`, false}, {"evil.example/path", false},
		{"a b", false}, {"", false}, {long, false}, {long[:255], false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = tc.host
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if got := s.base(r); got != "" {
			t.Errorf("base(Host %.40q, tls %v) = %.60q, want none", tc.host, tc.tls, got)
		}
	}
	s.cfg.BaseURL = "https://alice.example"
	r := httptest.NewRequest("GET", "/", nil)
	r.Host = "other.example"
	if got := s.base(r); got != "https://alice.example" {
		t.Errorf("with BaseURL set: %q", got)
	}
}

// TestFailStatuses: each Source error answers with its own status, and a client that
// went away gets nothing written.
func TestFailStatuses(t *testing.T) {
	s := &server{cfg: Config{}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, tc := range []struct {
		err   error
		want  int
		retry string
	}{
		{fmt.Errorf("x: %w", ErrNotFound), http.StatusNotFound, ""},
		{fmt.Errorf("x: %w", ErrGone), http.StatusGone, ""},
		{fmt.Errorf("x: %w", ErrBadCursor), http.StatusBadRequest, ""},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), http.StatusServiceUnavailable, "5"},
		{errors.New("disk on fire"), http.StatusInternalServerError, ""},
	} {
		w := httptest.NewRecorder()
		s.fail(w, httptest.NewRequest("GET", "/", nil), tc.err)
		if w.Code != tc.want || w.Header().Get("Retry-After") != tc.retry || strings.Contains(w.Body.String(), "disk on fire") {
			t.Errorf("fail(%v): %d %q (Retry-After %q), want %d", tc.err, w.Code, w.Body.String(), w.Header().Get("Retry-After"), tc.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := httptest.NewRecorder()
	s.fail(w, httptest.NewRequest("GET", "/", nil).WithContext(ctx), ErrNotFound)
	if w.Body.Len() != 0 || w.Header().Get("Content-Type") != "" {
		t.Errorf("a gone client was answered: %q", w.Body.String())
	}
}
