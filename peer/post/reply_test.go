package post

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

func TestIsEmoji(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"👍", true}, {"❤️", true}, {"❤", true}, {"👍🏽", true}, {"👩‍👩‍👧", true}, {"🇫🇷", true},
		{"1️⃣", true}, {"🏴󠁧󠁢󠁳󠁣󠁴󠁿", true}, {"🧑🏿‍🚀", true},
		{"", false}, {"a", false}, {"ok", false}, {"👍👍", false}, {"👍 ", false}, {" 👍", false},
		{"🇫", false}, {"🇫🇷🇫", false}, {"👍a", false}, {"‍👍", false}, {"👍‍", false}, {"\xff", false},
		{"1", false}, {"🏽", false},
		// keycaps at their edges, with and without the variation selector
		{"0\uFE0F\u20E3", true}, {"9\u20E3", true}, {"#\uFE0F\u20E3", true}, {"*\u20E3", true},
		{"/\u20E3", false}, {":\u20E3", false}, {"1\uFE0F", false}, {"1\u20E3\u20E3", false}, {"1\uFE0F\u20E4", false},
		// tag sequences: tags from U+E0020 to U+E007E, ended by U+E007F
		{"\U0001F3F4\U000E0020\U000E007E\U000E007F", true}, {"\U0001F3F4\U000E001F\U000E007F", false},
		{"\U0001F3F4\U000E007F\U000E007F", false}, {"\U0001F3F4", true}, {"\U0001F3F4\U000E007F", false},
		{"🇫a", false},
	}
	for _, tc := range tests {
		if got := IsEmoji(tc.in); got != tc.want {
			t.Errorf("IsEmoji(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestReplySealOpen(t *testing.T) {
	bob, alice, mallory := key(t), key(t), key(t)
	pid, _ := NewID(nil)
	now := time.UnixMilli(1_700_000_000_000)
	env, r, err := SealReply(bob, ReplyDraft{Now: now, PostAuthor: alice.Public(), PostID: pid, Text: "nice", Mentions: []identity.PublicKey{alice.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenReply(env)
	if err != nil || !proto.Equal(got, r) {
		t.Fatalf("OpenReply = %v, %v; want %v", got, err, r)
	}
	// A reply signed as a reaction, or a post, does not open as a reply (contexts differ).
	asPost := signed.SealBytes(bob, identity.ContextPost, env.GetPayload())
	if _, err := OpenReply(asPost); !errors.Is(err, identity.ErrBadSignature) {
		t.Fatalf("reply bytes signed under the post context: %v, want ErrBadSignature", err)
	}
	// Mallory signs a reply that names Bob as its author: refused.
	forged := proto.Clone(r).(*postv1.Reply)
	forgedEnv, _ := signed.Seal(mallory, identity.ContextReply, forged)
	if _, err := OpenReply(forgedEnv); !errors.Is(err, ErrWrongAuthor) {
		t.Fatalf("forged author: %v, want ErrWrongAuthor", err)
	}
	// Bytes changed after signing: refused.
	tampered := proto.Clone(env).(*signedv1.Envelope)
	tampered.Payload[len(tampered.Payload)-1] ^= 1
	if _, err := OpenReply(tampered); err == nil {
		t.Fatal("tampered reply opened")
	}
}

func TestReplyRules(t *testing.T) {
	bob, alice := key(t), key(t)
	pid, _ := NewID(nil)
	now := time.UnixMilli(1_700_000_000_000)
	base := ReplyDraft{Now: now, PostAuthor: alice.Public(), PostID: pid, Text: "hi"}
	tests := []struct {
		name string
		edit func(*ReplyDraft)
	}{
		{"empty", func(d *ReplyDraft) { d.Text = "" }},
		{"blank", func(d *ReplyDraft) { d.Text = " \n\t" }},
		{"too long", func(d *ReplyDraft) { d.Text = string(make([]byte, MaxReplyText+1)) }},
		{"not utf-8", func(d *ReplyDraft) { d.Text = "\xff" }},
		{"tombstone with text", func(d *ReplyDraft) { d.Deleted = true }},
		{"too many mentions", func(d *ReplyDraft) { d.Mentions = make([]identity.PublicKey, MaxMentions+1) }},
	}
	for _, tc := range tests {
		d := base
		tc.edit(&d)
		if _, _, err := SealReply(bob, d); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: SealReply err = %v, want ErrInvalid", tc.name, err)
		}
	}
	if _, _, err := SealReply(bob, base); err != nil {
		t.Fatalf("valid reply: %v", err)
	}
}

func TestReactionSealOpen(t *testing.T) {
	bob, alice, mallory := key(t), key(t), key(t)
	pid, _ := NewID(nil)
	for _, e := range []string{"👍", ""} {
		env, r, err := SealReaction(bob, ReactionDraft{PostAuthor: alice.Public(), PostID: pid, Emoji: e, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := OpenReaction(env); err != nil || !proto.Equal(got, r) {
			t.Fatalf("OpenReaction(%q) = %v, %v", e, got, err)
		}
	}
	for _, e := range []string{"yes", "👍👍", "ok👍"} {
		if _, _, err := SealReaction(bob, ReactionDraft{PostAuthor: alice.Public(), PostID: pid, Emoji: e}); !errors.Is(err, ErrInvalid) {
			t.Errorf("reaction %q: %v, want ErrInvalid", e, err)
		}
	}
	r := &postv1.Reaction{Author: bob.Public().Bytes(), PostAuthor: alice.Public().Bytes(), PostId: pid[:], Version: 1, Emoji: "👍", Visibility: postv1.Visibility_VISIBILITY_PRIVATE}
	forged, _ := signed.Seal(mallory, identity.ContextReaction, r)
	if _, err := OpenReaction(forged); !errors.Is(err, ErrWrongAuthor) {
		t.Fatalf("forged reaction: %v, want ErrWrongAuthor", err)
	}
}

// TestCheckReplyEdges: every rule of CheckReply at its edge, one field changed from a
// valid reply at a time: the bound itself passes, one past it fails.
func TestCheckReplyEdges(t *testing.T) {
	alice := key(t)
	pid, _ := NewID(nil)
	valid := func() *postv1.Reply {
		return &postv1.Reply{Id: pid[:], PostId: pid[:], PostAuthor: alice.Public().Bytes(), Version: 1, Text: "hi",
			CreatedUnixMs: 1000, UpdatedUnixMs: 1000, Visibility: postv1.Visibility_VISIBILITY_PRIVATE}
	}
	att := func() *postv1.Attachment {
		return &postv1.Attachment{Sha256: make([]byte, 32), Size: 1, MediaType: "image/png", FileName: "a.png"}
	}
	keys := func(n int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = alice.Public().Bytes()
		}
		return out
	}
	atts := func(n int) []*postv1.Attachment {
		out := make([]*postv1.Attachment, n)
		for i := range out {
			out[i] = att()
		}
		return out
	}
	for _, tc := range []struct {
		name string
		edit func(*postv1.Reply)
		ok   bool
	}{
		{"valid", func(*postv1.Reply) {}, true},
		{"a short id", func(r *postv1.Reply) { r.Id = r.Id[:IDSize-1] }, false},
		{"a short post id", func(r *postv1.Reply) { r.PostId = r.PostId[:IDSize-1] }, false},
		{"a short post author", func(r *postv1.Reply) { r.PostAuthor = r.PostAuthor[:31] }, false},
		{"version 0", func(r *postv1.Reply) { r.Version = 0 }, false},
		{"text of MaxReplyText bytes", func(r *postv1.Reply) { r.Text = strings.Repeat("a", MaxReplyText) }, true},
		{"text of MaxReplyText+1 bytes", func(r *postv1.Reply) { r.Text = strings.Repeat("a", MaxReplyText+1) }, false},
		{"no text, an attachment", func(r *postv1.Reply) { r.Text = ""; r.Attachments = atts(1) }, true},
		{"no text, no attachment", func(r *postv1.Reply) { r.Text = "" }, false},
		{"MaxReplyAttachments attachments", func(r *postv1.Reply) { r.Attachments = atts(MaxReplyAttachments) }, true},
		{"MaxReplyAttachments+1 attachments", func(r *postv1.Reply) { r.Attachments = atts(MaxReplyAttachments + 1) }, false},
		{"MaxMentions mentions", func(r *postv1.Reply) { r.Mentions = keys(MaxMentions) }, true},
		{"MaxMentions+1 mentions", func(r *postv1.Reply) { r.Mentions = keys(MaxMentions + 1) }, false},
		{"a mention that is no key", func(r *postv1.Reply) { r.Mentions = [][]byte{make([]byte, 31)} }, false},
		{"public", func(r *postv1.Reply) { r.Visibility = postv1.Visibility_VISIBILITY_PUBLIC }, true},
		{"no visibility", func(r *postv1.Reply) { r.Visibility = postv1.Visibility_VISIBILITY_UNSPECIFIED }, false},
		{"updated when created", func(r *postv1.Reply) { r.UpdatedUnixMs = r.CreatedUnixMs }, true},
		{"updated before created", func(r *postv1.Reply) { r.UpdatedUnixMs = r.CreatedUnixMs - 1 }, false},
		{"a tombstone", func(r *postv1.Reply) { r.Deleted = true; r.Text = "" }, true},
		{"a tombstone with text", func(r *postv1.Reply) { r.Deleted = true }, false},
		{"a tombstone with an attachment", func(r *postv1.Reply) { r.Deleted = true; r.Text = ""; r.Attachments = atts(1) }, false},
		{"a tombstone with a mention", func(r *postv1.Reply) { r.Deleted = true; r.Text = ""; r.Mentions = keys(1) }, false},
		{"a bad attachment", func(r *postv1.Reply) { r.Attachments = []*postv1.Attachment{{Sha256: make([]byte, 31)}} }, false},
		{"an attachment of exactly 16 MiB", func(r *postv1.Reply) { r.Attachments = atts(1); r.Attachments[0].Size = MaxReplyAttachmentSize }, true},
		{"an attachment of 16 MiB + 1", func(r *postv1.Reply) { r.Attachments = atts(1); r.Attachments[0].Size = MaxReplyAttachmentSize + 1 }, false},
	} {
		r := valid()
		tc.edit(r)
		if err := CheckReply(r); (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// TestCheckReactionEdges: every rule of CheckReaction, one field changed at a time.
func TestCheckReactionEdges(t *testing.T) {
	alice := key(t)
	pid, _ := NewID(nil)
	for _, tc := range []struct {
		name string
		edit func(*postv1.Reaction)
		ok   bool
	}{
		{"valid", func(*postv1.Reaction) {}, true},
		{"withdrawn", func(r *postv1.Reaction) { r.Emoji = "" }, true},
		{"public", func(r *postv1.Reaction) { r.Visibility = postv1.Visibility_VISIBILITY_PUBLIC }, true},
		{"a short post id", func(r *postv1.Reaction) { r.PostId = r.PostId[:IDSize-1] }, false},
		{"a short post author", func(r *postv1.Reaction) { r.PostAuthor = r.PostAuthor[:31] }, false},
		{"version 0", func(r *postv1.Reaction) { r.Version = 0 }, false},
		{"no visibility", func(r *postv1.Reaction) { r.Visibility = postv1.Visibility_VISIBILITY_UNSPECIFIED }, false},
		{"a word", func(r *postv1.Reaction) { r.Emoji = "yes" }, false},
	} {
		r := &postv1.Reaction{PostId: pid[:], PostAuthor: alice.Public().Bytes(), Version: 1, Emoji: "👍", Visibility: postv1.Visibility_VISIBILITY_PRIVATE}
		tc.edit(r)
		if err := CheckReaction(r); (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
