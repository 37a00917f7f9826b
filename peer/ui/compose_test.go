package ui

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/kithnet/kith/peer/post"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// photoForm is the compose form as a browser without script sends it: the token first,
// then text, audience and files.
func photoForm(t *testing.T, csrf, text string, to []string, files map[string]string, order []string) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("csrf", csrf)
	mw.WriteField("text", text)
	for _, v := range to {
		mw.WriteField("to", v)
	}
	for _, name := range order {
		fw, err := mw.CreateFormFile("photos", name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write([]byte(files[name]))
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

// TestComposeUpload: the form's text, audience and files reach the local API, each
// file under its own base name (never a path the browser chose), and at most maxFiles
// files are taken.
func TestComposeUpload(t *testing.T) {
	l := newLoggedIn(t)
	files := map[string]string{"beach.png": "png bytes", "../../etc/passwd": "not a path", "": "no name", "/": "slash"}
	ct, body := photoForm(t, l.csrf, "a day out", []string{"friends", "group:family", "friend:abc", "me", "public", "bogus"},
		files, []string{"beach.png", "../../etc/passwd", "", "/"})
	if w := l.do(t, "/post", ct, "", body); w.Code != http.StatusSeeOther {
		t.Fatalf("compose with photos: %d %q", w.Code, w.Body.String())
	}
	req := l.api.last
	if req.GetText() != "a day out" {
		t.Errorf("text %q", req.GetText())
	}
	var kinds []string
	for _, a := range req.GetAudience() {
		kinds = append(kinds, a.GetKind().String()+":"+a.GetGroup()+a.GetFriendId())
	}
	want := []string{"AUDIENCE_KIND_FRIENDS:", "AUDIENCE_KIND_GROUP:family", "AUDIENCE_KIND_FRIEND:abc",
		"AUDIENCE_KIND_ME:", "AUDIENCE_KIND_PUBLIC:"}
	if !slices.Equal(kinds, want) {
		t.Errorf("audience %q, want %q (an unknown value dropped)", kinds, want)
	}
	if len(req.GetAttachmentPaths()) != 3 {
		t.Fatalf("attachments %q, want the three named files (a part without a file name is no file)", req.GetAttachmentPaths())
	}
	if l.api.files["beach.png"] != "png bytes" || l.api.files["passwd"] != "not a path" || l.api.files["upload"] != "slash" {
		t.Errorf("files as the API saw them: %q", l.api.files)
	}
	for _, p := range req.GetAttachmentPaths() {
		if strings.Contains(p, "etc") {
			t.Errorf("an upload's path %q kept a directory of the browser's name", p)
		}
	}

	// maxFiles files pass, one more is refused and makes no post.
	names := make([]string, maxFiles+1)
	many := map[string]string{}
	for i := range names {
		names[i] = strings.Repeat("p", i+1) + ".jpg"
		many[names[i]] = "x"
	}
	ct, body = photoForm(t, l.csrf, "many", nil, many, names[:maxFiles])
	if w := l.do(t, "/post", ct, "", body); w.Code != http.StatusSeeOther || len(l.api.last.GetAttachmentPaths()) != maxFiles {
		t.Fatalf("%d files: %d, %d attachments", maxFiles, w.Code, len(l.api.last.GetAttachmentPaths()))
	}
	if got := l.api.last.GetAudience(); len(got) != 0 {
		t.Errorf("no audience picked: %v, want none (the API's default)", got)
	}
	before := len(l.api.made())
	ct, body = photoForm(t, l.csrf, "too many", nil, many, names)
	if w := l.do(t, "/post", ct, "", body); w.Code != http.StatusBadRequest {
		t.Fatalf("%d files: %d, want 400", maxFiles+1, w.Code)
	}
	if len(l.api.made()) != before {
		t.Fatal("a refused upload made a post")
	}
}

// TestComposeWithoutMultipart: a url-encoded compose form (no photos) posts too.
func TestComposeWithoutMultipart(t *testing.T) {
	l := newLoggedIn(t)
	ct, body := formBody(field{"csrf", l.csrf}, field{"text", "plain"}, field{"to", "group:close"})
	if w := l.do(t, "/post", ct, "", body); w.Code != http.StatusSeeOther {
		t.Fatalf("url-encoded compose: %d", w.Code)
	}
	req := l.api.last
	if req.GetText() != "plain" || len(req.GetAudience()) != 1 ||
		req.GetAudience()[0].GetKind() != localv1.AudienceKind_AUDIENCE_KIND_GROUP || req.GetAudience()[0].GetGroup() != "close" {
		t.Fatalf("url-encoded compose made %v", req)
	}
}

// TestComposeLimits: a text of post.MaxText bytes and a file of MaxAttachmentSize bytes
// reach the API whole; one byte more, and the API gets one byte over the limit (which it
// refuses), never a text or file silently cut to fit.
func TestComposeLimits(t *testing.T) {
	l := newLoggedIn(t)
	const max = 1000
	l.s.cfg.MaxAttachmentSize = max
	for _, extra := range []int{0, 5} {
		text := strings.Repeat("t", post.MaxText+extra)
		file := strings.Repeat("f", max+extra)
		ct, body := photoForm(t, l.csrf, text, nil, map[string]string{"a.bin": file}, []string{"a.bin"})
		if w := l.do(t, "/post", ct, "", body); w.Code != http.StatusSeeOther {
			t.Fatalf("limit + %d: %d %q", extra, w.Code, w.Body.String())
		}
		wantText, wantFile := post.MaxText+min(extra, 1), max+min(extra, 1)
		if got := len(l.api.last.GetText()); got != wantText {
			t.Errorf("a text of MaxText + %d bytes reached the API with %d, want %d", extra, got, wantText)
		}
		if got := len(l.api.files["a.bin"]); got != wantFile {
			t.Errorf("a file of the limit + %d bytes reached the API with %d, want %d", extra, got, wantFile)
		}
	}
}
