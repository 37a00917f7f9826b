package public_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	"github.com/kithnet/kith/shared/identity"
)

// t0 is when the fixture's first post was written.
var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC).UnixMilli()

// fixture is a node with the audience matrix: public posts, private ones, a deleted one,
// one made private, and blobs reachable from each kind.
type fixture struct {
	key    *identity.Key
	src    *publictest.Memory
	latest map[public.PostID]public.Post // the newest version of every post, public or not
	h      http.Handler

	pubA, pubB, pubShared *postv1.Payload // public
	priv, privEdited      *postv1.Payload // private, never public
	deleted, madePrivate  *postv1.Payload // public once, now tombstone / private
	blobPub, blobShared   [32]byte        // reachable from public posts
	blobPriv, blobGone    [32]byte        // reachable only from private / no-longer-public posts

	// secrets are strings that must appear in no answer: ids, texts, hashes, signatures
	// of every post that is not public now.
	secrets []string
}

func newFixture(t testing.TB, cfg public.Config) *fixture {
	t.Helper()
	key, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	src := publictest.NewMemory(key.Public())
	src.SetProfile(public.Profile{ID: key.Public(), Name: "Alice Example"})
	f := &fixture{key: key, src: src, latest: map[public.PostID]public.Post{}}
	f.blobPub = src.PutBlob([]byte("\x89PNG public picture bytes"))
	f.blobShared = src.PutBlob([]byte("shared between a private and a public post"))
	f.blobPriv = src.PutBlob([]byte("private picture SECRET-BLOB-1"))
	f.blobGone = src.PutBlob([]byte("picture of a post made private SECRET-BLOB-2"))
	att := func(sum [32]byte, mt, name string) *postv1.Attachment {
		return &postv1.Attachment{Sha256: sum[:], Size: 40, MediaType: mt, FileName: name}
	}

	f.pubA = publictest.NewPayload("Hello from kith #kith #intro", publictest.Public, t0)
	f.pubA.Attachments = []*postv1.Attachment{att(f.blobPub, "image/png", "hello.png")}
	f.put(t, f.pubA)
	f.pubB = publictest.NewPayload("<script>alert('x')</script> & <b>bold</b> #Go", publictest.Public, t0+1000)
	f.put(t, f.pubB)
	f.pubShared = publictest.NewPayload("a public post sharing a picture #kith", publictest.Public, t0+2000)
	f.pubShared.Attachments = []*postv1.Attachment{att(f.blobShared, "text/plain", "note.txt")}
	f.put(t, f.pubShared)

	f.priv = publictest.NewPayload("SECRET-TEXT-1 for friends only #kith #secrettag", publictest.Private, t0+3000)
	f.priv.Attachments = []*postv1.Attachment{att(f.blobPriv, "image/jpeg", "private.jpg"), att(f.blobShared, "text/plain", "note.txt")}
	f.secret(f.put(t, f.priv).Envelope.GetSignature())
	f.privEdited = publictest.NewPayload("SECRET-TEXT-2 first draft", publictest.Private, t0+4000)
	f.put(t, f.privEdited)
	f.privEdited = publictest.Edit(f.privEdited, t0+5000, func(p *postv1.Payload) { p.Text = "SECRET-TEXT-3 second draft" })
	f.secret(f.put(t, f.privEdited).Envelope.GetSignature())

	f.deleted = publictest.NewPayload("SECRET-TEXT-4 public, then deleted #kith", publictest.Public, t0+6000)
	f.secret(f.put(t, f.deleted).Envelope.GetSignature())
	f.deleted = publictest.Edit(f.deleted, t0+7000, func(p *postv1.Payload) {
		p.Deleted, p.Text, p.Hashtags, p.Attachments = true, "", nil, nil
	})
	f.put(t, f.deleted)
	f.madePrivate = publictest.NewPayload("SECRET-TEXT-5 public, then private #kith #goneTag", publictest.Public, t0+8000)
	f.madePrivate.Attachments = []*postv1.Attachment{att(f.blobGone, "image/jpeg", "gone.jpg")}
	f.secret(f.put(t, f.madePrivate).Envelope.GetSignature())
	f.madePrivate = publictest.Edit(f.madePrivate, t0+9000, func(p *postv1.Payload) { p.Visibility = publictest.Private })
	f.secret(f.put(t, f.madePrivate).Envelope.GetSignature())

	for _, p := range []*postv1.Payload{f.priv, f.privEdited, f.deleted, f.madePrivate} {
		f.secrets = append(f.secrets, publictest.ID(p), strings.ToUpper(publictest.ID(p)), base64.StdEncoding.EncodeToString(p.GetId()))
	}
	f.secrets = append(f.secrets, "SECRET-", "secrettag", "gonetag", "private.jpg", "gone.jpg",
		hex.EncodeToString(f.blobPriv[:]), hex.EncodeToString(f.blobGone[:]))

	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.RatePerSecond == 0 {
		cfg.RatePerSecond = -1
	}
	cfg.Source = src
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://alice.example"
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = 2
	}
	h, err := public.NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

// secret records the signature of a post that is not public now.
func (f *fixture) secret(sig []byte) {
	f.secrets = append(f.secrets, base64.StdEncoding.EncodeToString(sig))
}

// answer is one response, read whole.
type answer struct {
	Status int
	Header http.Header
	Body   string
}

// do sends one request through h; hdr holds extra headers as name, value pairs.
func do(t testing.TB, h http.Handler, method, target string, hdr ...string) answer {
	t.Helper()
	r := httptest.NewRequest(method, "http://alice.example"+target, nil)
	r.RemoteAddr = "192.0.2.1:1234"
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	res := w.Result()
	body, _ := io.ReadAll(res.Body)
	return answer{Status: res.StatusCode, Header: res.Header, Body: string(body)}
}

// get is do(GET) that expects status want.
func (f *fixture) get(t testing.TB, target string, want int, hdr ...string) answer {
	t.Helper()
	a := do(t, f.h, http.MethodGet, target, hdr...)
	if a.Status != want {
		t.Fatalf("GET %s: status %d, want %d; body: %.300s", target, a.Status, want, a.Body)
	}
	return a
}

// noSecrets fails if an answer's body or headers show any secret.
func (f *fixture) noSecrets(t testing.TB, what string, a answer) {
	t.Helper()
	var all strings.Builder
	all.WriteString(a.Body)
	for k, vs := range a.Header {
		all.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
	}
	text := strings.ToLower(all.String())
	for _, s := range f.secrets {
		if strings.Contains(text, strings.ToLower(s)) {
			t.Errorf("%s leaks %q (not public)", what, s)
		}
	}
}

// put signs p as the fixture's person and stores it as its post's newest version.
func (f *fixture) put(t testing.TB, p *postv1.Payload) public.Post {
	t.Helper()
	return put(t, f.src, f.key, p, f.latest)
}

// put signs p with key and stores it in src, recording it in each of latest.
func put(t testing.TB, src *publictest.Memory, key *identity.Key, p *postv1.Payload, latest ...map[public.PostID]public.Post) public.Post {
	t.Helper()
	post, err := src.Put(publictest.Sign(key, p))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range latest {
		m[public.PostID(p.GetId())] = post
	}
	return post
}

// newKey is a fresh identity.
func newKey(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newRequest(method, target string) *http.Request {
	return httptest.NewRequest(method, "http://alice.example"+target, nil)
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
