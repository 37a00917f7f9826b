package public

import (
	"encoding/hex"
	"strings"
	"time"
	"unicode/utf8"
)

// profileView is the person as pages and feeds show them.
type profileView struct {
	ID      string
	Name    string // the published name, or the ID when there is none
	HasName bool
	Follows []string
	URL     string
}

// postView is one public post as pages and feeds show it.
type postView struct {
	ID          string
	URL         string
	JSONURL     string
	Text        string
	Tags        []string
	Title       string // a short excerpt for titles and OpenGraph
	Published   time.Time
	Updated     time.Time
	Edited      bool
	Version     uint64
	Attachments []attachmentView

	signature string // the envelope's signature: names this exact version
}

type attachmentView struct {
	URL       string
	SHA256    string
	MediaType string
	FileName  string
	Size      uint64
	Image     bool
	Video     bool
	Audio     bool
}

func newProfileView(p Profile, base string) profileView {
	v := profileView{ID: string(p.ID.ID()), Name: p.Name, HasName: p.Name != "", URL: base + "/"}
	if !v.HasName {
		v.Name = v.ID
	}
	for _, f := range p.Follows {
		v.Follows = append(v.Follows, string(f.ID()))
	}
	return v
}

// newPostView presents a post that checkPublic accepted.
func newPostView(p Post, base string) postView {
	pl := p.Payload
	id := hex.EncodeToString(pl.GetId())
	v := postView{
		ID:        id,
		URL:       base + "/p/" + id,
		JSONURL:   base + "/p/" + id + ".json",
		Text:      pl.GetText(),
		Tags:      pl.GetHashtags(),
		Title:     excerpt(pl.GetText(), 80),
		Published: time.UnixMilli(pl.GetCreatedUnixMs()).UTC(),
		Updated:   time.UnixMilli(pl.GetUpdatedUnixMs()).UTC(),
		Edited:    pl.GetVersion() > 1,
		Version:   pl.GetVersion(),
		signature: string(p.Envelope.GetSignature()),
	}
	if v.Title == "" {
		v.Title = "Post " + id[:8]
	}
	for _, a := range pl.GetAttachments() {
		sum := hex.EncodeToString(a.GetSha256())
		mt := a.GetMediaType()
		v.Attachments = append(v.Attachments, attachmentView{
			URL: base + "/blob/" + sum, SHA256: sum, MediaType: mt, FileName: a.GetFileName(), Size: a.GetSize(),
			Image: inlineMedia(mt) && strings.HasPrefix(mt, "image/"),
			Video: inlineMedia(mt) && strings.HasPrefix(mt, "video/"),
			Audio: inlineMedia(mt) && strings.HasPrefix(mt, "audio/"),
		})
	}
	return v
}

// Segments is the text split for linking its hashtags; only a template rendering the
// post asks for it, and the entry cache keeps the result.
func (v postView) Segments() []segment { return segments(v.Text, v.Tags) }

func newPostViews(posts []Post, base string) []postView {
	out := make([]postView, 0, len(posts))
	for _, p := range posts {
		out = append(out, newPostView(p, base))
	}
	return out
}

// excerpt is the first line of text, cut to at most n characters at a word boundary.
func excerpt(text string, n int) string {
	line, _, _ := strings.Cut(strings.TrimSpace(text), "\n")
	line = strings.TrimSpace(line)
	if utf8.RuneCountInString(line) <= n {
		return line
	}
	cut := line[:byteIndexOfRune(line, n)]
	if i := strings.LastIndexByte(cut, ' '); i > n/2 {
		cut = cut[:i]
	}
	return cut + "…"
}

func byteIndexOfRune(s string, n int) int {
	i := 0
	for j := range s {
		if i == n {
			return j
		}
		i++
	}
	return len(s)
}

// newest is the later of a list's Modified and its posts' update times.
func newest(t time.Time, posts []postView) time.Time {
	for _, p := range posts {
		if p.Updated.After(t) {
			t = p.Updated
		}
	}
	return t
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
