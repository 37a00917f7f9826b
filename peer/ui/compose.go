package ui

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/kithnet/kith/peer/post"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// maxFiles bounds the attachments of one post, as the post format does.
const maxFiles = post.MaxAttachments

// createPost reads a multipart form as it streams in: the photos go to a temporary
// directory in the home, then the post is made exactly as `kith post --attach` makes it.
func (s *Server) createPost(w http.ResponseWriter, r *http.Request) {
	if !isMultipart(r) {
		r.ParseForm()
		_, err := s.cfg.API.CreatePost(r.Context(), &localv1.CreatePostRequest{Text: r.PostForm.Get("text"),
			Audience: audience(r.PostForm["to"])})
		s.done(w, r, err, "/")
		return
	}
	ss := sessionOf(r)
	tmp, err := os.MkdirTemp(dir(s.cfg.Home), "upload-")
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	defer os.RemoveAll(tmp)
	r.Body = http.MaxBytesReader(w, r.Body, maxFiles*(s.cfg.MaxAttachmentSize+1<<20))
	mr, err := r.MultipartReader()
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	req := &localv1.CreatePostRequest{}
	var to []string
	csrfOK := r.Header.Get("X-CSRF-Token") != "" // the gate checked it; without it the form's first field must be the token
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			s.fail(w, r, http.StatusBadRequest, fmt.Errorf("upload: %w", err))
			return
		}
		name := part.FormName()
		if !csrfOK && name != "csrf" { // a form without script: csrf must come first
			http.Error(w, "refused: missing or wrong CSRF token (reload the page)", http.StatusForbidden)
			return
		}
		switch name {
		case "csrf":
			v, _ := io.ReadAll(io.LimitReader(part, 200))
			if !ss.validCSRF(string(v)) {
				http.Error(w, "refused: missing or wrong CSRF token (reload the page)", http.StatusForbidden)
				return
			}
			csrfOK = true
		case "text":
			v, _ := io.ReadAll(io.LimitReader(part, post.MaxText+1))
			req.Text = string(v)
		case "to":
			v, _ := io.ReadAll(io.LimitReader(part, 300))
			to = append(to, string(v))
		case "photos":
			if part.FileName() == "" {
				continue // the file input left empty
			}
			if len(req.AttachmentPaths) == maxFiles {
				s.fail(w, r, http.StatusBadRequest, fmt.Errorf("at most %d photos or files per post", maxFiles))
				return
			}
			p, err := saveUpload(tmp, len(req.AttachmentPaths), part, s.cfg.MaxAttachmentSize)
			if err != nil {
				s.fail(w, r, http.StatusBadRequest, err)
				return
			}
			req.AttachmentPaths = append(req.AttachmentPaths, p)
		}
	}
	if !csrfOK { // a body with no field at all: no token either
		http.Error(w, "refused: missing or wrong CSRF token (reload the page)", http.StatusForbidden)
		return
	}
	req.Audience = audience(to)
	_, err = s.cfg.API.CreatePost(r.Context(), req)
	s.done(w, r, err, "/")
}

// saveUpload writes one uploaded file under its own base name (the post keeps the name)
// in a numbered directory, so two files of one name do not collide.
func saveUpload(tmp string, n int, part *multipart.Part, max int64) (string, error) {
	name := filepath.Base(filepath.Clean("/" + part.FileName()))
	if name == "/" || name == "." {
		name = "upload"
	}
	d := filepath.Join(tmp, fmt.Sprint(n))
	if err := os.Mkdir(d, 0o700); err != nil {
		return "", err
	}
	p := filepath.Join(d, name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, io.LimitReader(part, max+1)) // one byte over: the API refuses it
	err = errors.Join(err, f.Close())
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", name, err)
	}
	return p, nil
}

// audience turns the picker's values (me, friends, public, group:NAME, friend:ID) into
// the local API's audience; none means friends, as on the command line.
func audience(values []string) []*localv1.Audience {
	var out []*localv1.Audience
	for _, v := range values {
		kind, arg, _ := strings.Cut(v, ":")
		switch kind {
		case "me":
			out = append(out, &localv1.Audience{Kind: localv1.AudienceKind_AUDIENCE_KIND_ME})
		case "friends":
			out = append(out, &localv1.Audience{Kind: localv1.AudienceKind_AUDIENCE_KIND_FRIENDS})
		case "public":
			out = append(out, &localv1.Audience{Kind: localv1.AudienceKind_AUDIENCE_KIND_PUBLIC})
		case "group":
			out = append(out, &localv1.Audience{Kind: localv1.AudienceKind_AUDIENCE_KIND_GROUP, Group: arg})
		case "friend":
			out = append(out, &localv1.Audience{Kind: localv1.AudienceKind_AUDIENCE_KIND_FRIEND, FriendId: arg})
		}
	}
	return out
}
