package post

import (
	"errors"
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
