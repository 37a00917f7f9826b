package public_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	"github.com/kithnet/kith/shared/identity"
	"google.golang.org/protobuf/proto"
)

// TestEnvelopeVerifiesAgainstThePage does what a stranger would: read /p/ID.json, verify
// the signature with the ID shown on /p/ID, and find the post's text in what was signed.
func TestEnvelopeVerifiesAgainstThePage(t *testing.T) {
	f := newFixture(t, public.Config{})
	page := f.get(t, "/p/"+publictest.ID(f.pubA), 200).Body
	var doc struct {
		Signer    string `json:"signer"`
		Context   string `json:"context"`
		Payload   []byte `json:"payload"`
		Signature []byte `json:"signature"`
		Post      struct {
			ID, Text string
			Hashtags []string
		} `json:"post"`
	}
	a := f.get(t, "/p/"+publictest.ID(f.pubA)+".json", 200)
	if ct := a.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if err := json.Unmarshal([]byte(a.Body), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page, "<code>"+doc.Signer+"</code>") {
		t.Fatalf("the page does not show the signer ID %s", doc.Signer)
	}
	key, err := identity.ParseID(doc.Signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := identity.Verify(key, identity.Context(doc.Context), doc.Payload, doc.Signature); err != nil {
		t.Fatalf("the envelope does not verify against the ID on the page: %v", err)
	}
	var p postv1.Payload
	if err := proto.Unmarshal(doc.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if p.GetText() != f.pubA.Text || doc.Post.Text != p.GetText() || doc.Post.ID != publictest.ID(&p) || len(doc.Post.Hashtags) != 2 {
		t.Errorf("signed text %q, parsed fields %+v; want %q", p.GetText(), doc.Post, f.pubA.Text)
	}
	doc.Payload[len(doc.Payload)-1] ^= 1
	if identity.Verify(key, identity.ContextPost, doc.Payload, doc.Signature) == nil {
		t.Error("a tampered payload still verifies")
	}
}
