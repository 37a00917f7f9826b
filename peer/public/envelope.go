package public

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/kithnet/kith/shared/identity"
)

// envelopeJSON is /p/ID.json: the signed envelope as the author made it, and what it says.
type envelopeJSON struct {
	Signer    string   `json:"signer"`  // the kith ID (base32) of the signing key
	Context   string   `json:"context"` // the string signed before the payload
	Payload   []byte   `json:"payload"` // base64 of the exact signed bytes
	Signature []byte   `json:"signature"`
	Post      postJSON `json:"post"` // the payload, parsed, for convenience
	Verify    string   `json:"verify"`
}

type postJSON struct {
	ID          string           `json:"id"`
	Author      string           `json:"author"`
	Version     uint64           `json:"version"`
	Created     string           `json:"created"`
	Updated     string           `json:"updated"`
	Text        string           `json:"text"`
	Hashtags    []string         `json:"hashtags"`
	Attachments []attachmentJSON `json:"attachments"`
	Visibility  string           `json:"visibility"`
	URL         string           `json:"url"`
}

type attachmentJSON struct {
	SHA256    string `json:"sha256"`
	Size      uint64 `json:"size"`
	MediaType string `json:"media_type"`
	FileName  string `json:"file_name,omitempty"`
	URL       string `json:"url"`
}

const verifyNote = "ed25519-verify(signer, context || payload, signature), signer as raw key = base32 (RFC 4648 lowercase, no padding) decoding of the signer ID; then parse payload as kith.post.v1.Payload"

func (s *server) serveEnvelope(w http.ResponseWriter, r *http.Request, raw string) {
	prof, post, ok := s.onePost(w, r, raw)
	if !ok {
		return
	}
	pv := newPostView(post, s.base(r))
	doc := envelopeJSON{
		Signer:    string(prof.ID.ID()),
		Context:   string(identity.ContextPost),
		Payload:   post.Envelope.GetPayload(),
		Signature: post.Envelope.GetSignature(),
		Verify:    verifyNote,
		Post: postJSON{
			ID: pv.ID, Author: string(prof.ID.ID()), Version: pv.Version,
			Created: rfc3339(pv.Published), Updated: rfc3339(pv.Updated),
			Text: pv.Text, Hashtags: nonNil(pv.Tags), Visibility: "public", URL: pv.URL,
			Attachments: []attachmentJSON{},
		},
	}
	for _, a := range pv.Attachments {
		doc.Post.Attachments = append(doc.Post.Attachments, attachmentJSON{
			SHA256: a.SHA256, Size: a.Size, MediaType: a.MediaType, FileName: a.FileName, URL: a.URL,
		})
	}
	s.serveJSON(w, r, "application/json", pv.Updated, doc)
}

func (s *server) serveJSON(w http.ResponseWriter, r *http.Request, contentType string, modified time.Time, v any) {
	body, err := marshalJSON(v)
	if err != nil {
		s.log.Error("public: encode json", "err", err)
		refuse(w, http.StatusInternalServerError, "internal error")
		return
	}
	serveBody(w, r, contentType+"; charset=utf-8", modified, body)
}

func marshalJSON(v any) ([]byte, error) {
	body, err := json.MarshalIndent(v, "", "  ")
	return append(body, '\n'), err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
