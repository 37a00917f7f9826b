// Package publictest helps test the public HTTP face and what feeds it: Memory, a
// Source held in memory that keeps the contract (the reference implementation), helpers
// that sign posts, and TestSource, the behavioural suite every Source implementation
// must pass.
package publictest

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/kithnet/kith/peer/public"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// Visibilities, short.
const (
	Public  = postv1.Visibility_VISIBILITY_PUBLIC
	Private = postv1.Visibility_VISIBILITY_PRIVATE
)

// NewPayload returns version 1 of a post with a fresh random id, written at ms (Unix
// milliseconds), its hashtags found in text.
func NewPayload(text string, vis postv1.Visibility, ms int64) *postv1.Payload {
	id := make([]byte, 16)
	rand.Read(id)
	return &postv1.Payload{
		Id: id, Version: 1, CreatedUnixMs: ms, UpdatedUnixMs: ms, Text: text,
		Hashtags: Hashtags(text), Visibility: vis,
	}
}

// Edit returns the next version of p, written at ms, after change.
func Edit(p *postv1.Payload, ms int64, change func(*postv1.Payload)) *postv1.Payload {
	n := &postv1.Payload{
		Id: p.Id, Author: p.Author, Version: p.Version + 1, CreatedUnixMs: p.CreatedUnixMs, UpdatedUnixMs: ms,
		Text: p.Text, Hashtags: p.Hashtags, Attachments: p.Attachments, Visibility: p.Visibility,
	}
	change(n)
	return n
}

// Delete is an Edit change that makes the tombstone: deleted, no text, tags or blobs.
func Delete(p *postv1.Payload) { p.Deleted, p.Text, p.Hashtags, p.Attachments = true, "", nil, nil }

// Hashtags finds the '#' words of text, normalised, each once: how a test author tags.
func Hashtags(text string) []string {
	var tags []string
	for _, w := range strings.Fields(text) {
		if !strings.HasPrefix(w, "#") {
			continue
		}
		if t, err := public.NormalizeTag(strings.TrimRight(w, ".,!?")); err == nil && !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	return tags
}

// Sign sets p's author to key and seals it as a post. It panics only if p does not
// marshal, which a test payload always does.
func Sign(key *identity.Key, p *postv1.Payload) *signedv1.Envelope {
	p.Author = key.Public().Bytes()
	env, err := signed.Seal(key, identity.ContextPost, p)
	if err != nil {
		panic(err)
	}
	return env
}

// ID is a payload's id in the form URLs use.
func ID(p *postv1.Payload) string { return hex.EncodeToString(p.GetId()) }
