package post

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

func key(t testing.TB) *identity.Key {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k := key(t)
	now := time.UnixMilli(1_700_000_000_000)
	env, p, err := Seal(k, Draft{Now: now, Text: "hello #World and #world #go_lang", Public: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenFrom(env, k.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, p) || got.Version != 1 || got.CreatedUnixMs != now.UnixMilli() {
		t.Fatalf("opened %v, want %v", got, p)
	}
	if want := []string{"world", "go_lang"}; !slices.Equal(got.Hashtags, want) {
		t.Fatalf("hashtags %q, want %q", got.Hashtags, want)
	}
	if _, err := OpenFrom(env, key(t).Public()); !errors.Is(err, ErrWrongAuthor) {
		t.Fatalf("OpenFrom another author: %v, want ErrWrongAuthor", err)
	}
}

func TestLimits(t *testing.T) {
	k := key(t)
	sum := make([]byte, 32)
	tests := []struct {
		name string
		d    Draft
	}{
		{"text over 64 KiB", Draft{Text: strings.Repeat("a", MaxText+1)}},
		{"invalid UTF-8", Draft{Text: "\xff"}},
		{"tombstone with text", Draft{Text: "x", Deleted: true}},
		{"attachment over 1 GiB", Draft{Attachments: []*postv1.Attachment{{Sha256: sum, Size: MaxAttachmentSize + 1}}}},
		{"attachment without hash", Draft{Attachments: []*postv1.Attachment{{Size: 1}}}},
		{"attachment naming a directory", Draft{Attachments: []*postv1.Attachment{{Sha256: sum, FileName: "../etc/passwd"}}}},
		{"too many attachments", Draft{Attachments: slices.Repeat([]*postv1.Attachment{{Sha256: sum}}, MaxAttachments+1)}},
	}
	for _, tc := range tests {
		if _, _, err := Seal(k, tc.d); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Seal = %v, want ErrInvalid", tc.name, err)
		}
	}
	if _, _, err := Seal(k, Draft{Text: strings.Repeat("a", MaxText)}); err != nil {
		t.Errorf("text of exactly 64 KiB: %v", err)
	}
}

func TestOpenRejects(t *testing.T) {
	k, other := key(t), key(t)
	good, _, err := Seal(k, Draft{Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(*signedv1.Envelope)) *signedv1.Envelope {
		e := proto.Clone(good).(*signedv1.Envelope)
		f(e)
		return e
	}
	badPayload := func(p *postv1.Payload) *signedv1.Envelope {
		e, err := signed.Seal(k, identity.ContextPost, p)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	tests := []struct {
		name string
		env  *signedv1.Envelope
		want error
	}{
		{"nil", nil, signed.ErrMissing},
		{"flipped signature", mutate(func(e *signedv1.Envelope) { e.Signature[0] ^= 1 }), identity.ErrBadSignature},
		{"flipped payload", mutate(func(e *signedv1.Envelope) { e.Payload[0] ^= 1 }), identity.ErrBadSignature},
		{"other signer", mutate(func(e *signedv1.Envelope) { e.Signer = other.Public().Bytes() }), identity.ErrBadSignature},
		{"wrong context", mutate(func(e *signedv1.Envelope) { e.Signature = k.Sign(identity.ContextOffer, e.Payload) }), identity.ErrBadSignature},
		{"author not signer", badPayload(&postv1.Payload{Id: make([]byte, 16), Author: other.Public().Bytes(), Version: 1, Visibility: 1}), ErrWrongAuthor},
		{"no version", badPayload(&postv1.Payload{Id: make([]byte, 16), Author: k.Public().Bytes(), Visibility: 1}), ErrInvalid},
		{"no visibility", badPayload(&postv1.Payload{Id: make([]byte, 16), Author: k.Public().Bytes(), Version: 1}), ErrInvalid},
		{"not a payload", mutate(func(e *signedv1.Envelope) {
			e.Payload = []byte{0xff, 0xff}
			e.Signature = k.Sign(identity.ContextPost, e.Payload)
		}), signed.ErrMalformedPayload},
		{"too large", mutate(func(e *signedv1.Envelope) { e.Payload = make([]byte, MaxEnvelope+1) }), signed.ErrTooLarge},
	}
	var fill []*signedv1.Envelope // good posts around the bad one: a batch of them
	for i := range 15 {
		e, _, err := Seal(k, Draft{Text: fmt.Sprint("fill ", i)})
		if err != nil {
			t.Fatal(err)
		}
		fill = append(fill, e)
	}
	for _, tc := range tests {
		if _, err := Open(tc.env); !errors.Is(err, tc.want) {
			t.Errorf("%s: Open = %v, want %v", tc.name, err, tc.want)
		}
		batch := append(append(slices.Clone(fill[:7]), tc.env), fill[7:]...)
		_, errs := OpenAllChain(batch, k.Public(), nil)
		for i, err := range errs {
			if want := error(nil); i == 7 {
				if !errors.Is(err, tc.want) {
					t.Errorf("%s: OpenAllChain = %v, want %v", tc.name, err, tc.want)
				}
			} else if err != want {
				t.Errorf("%s: OpenAllChain's good post %d: %v", tc.name, i, err)
			}
		}
	}
	if _, errs := OpenAllChain([]*signedv1.Envelope{good}, other.Public(), nil); !errors.Is(errs[0], ErrWrongAuthor) {
		t.Errorf("OpenAllChain of k's post as other's = %v, want ErrWrongAuthor", errs[0])
	}
	got, errs := OpenAllChain(fill, k.Public(), nil)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("OpenAllChain of good post %d: %v", i, err)
		}
	}
	for i, p := range got {
		if want := fmt.Sprint("fill ", i); p.GetText() != want {
			t.Fatalf("OpenAllFrom[%d] = %q, want %q (order kept)", i, p.GetText(), want)
		}
	}
}

func TestHashtags(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"", nil},
		{"#a", []string{"a"}},
		{"#Go #go #GO", []string{"go"}},
		{"a#b", nil},
		{"##x", nil},
		{"#1 #2023", nil},
		{"#2023party", []string{"2023party"}},
		{"(#paren) #end.", []string{"paren", "end"}},
		{"#café #日本", []string{"café", "日本"}},
		{"http://x.org/#frag", nil},
		{"#a#b", []string{"a"}},
		{"#", nil},
	}
	for _, tc := range tests {
		if got := Hashtags(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("Hashtags(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestParseIDString(t *testing.T) {
	id, _ := NewID(nil)
	if got, err := ParseIDString(id.String()); err != nil || got != id {
		t.Fatalf("round trip: %v %v", got, err)
	}
	for _, bad := range []string{"", "xyz", strings.ToUpper(id.String()), id.String() + "00", "zz" + id.String()[2:]} {
		if _, err := ParseIDString(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseIDString(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

// FuzzOpen feeds arbitrary envelopes to Open: it must never panic, and whatever it
// accepts must verify under the key it names and obey every rule.
func FuzzOpen(f *testing.F) {
	k := key(f)
	env, _, _ := Seal(k, Draft{Text: "seed #tag", Attachments: []*postv1.Attachment{{Sha256: make([]byte, 32), Size: 3, FileName: "a.jpg"}}})
	b, _ := proto.Marshal(env)
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		env := new(signedv1.Envelope)
		if proto.Unmarshal(data, env) != nil {
			return
		}
		p, err := Open(env)
		if err != nil {
			return
		}
		signer, _ := identity.PublicKeyFromBytes(env.Signer)
		if identity.Verify(signer, identity.ContextPost, env.Payload, env.Signature) != nil {
			t.Fatal("Open accepted an envelope whose signature does not verify")
		}
		if string(p.Author) != string(env.Signer) || Check(p) != nil {
			t.Fatal("Open accepted a post that names another author or breaks a rule")
		}
	})
}

// FuzzHashtags checks the parser's promises on any text.
func FuzzHashtags(f *testing.F) {
	for _, s := range []string{"#a #b", "a#b", "#日本 #1", "##x#y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		tags := Hashtags(text)
		if len(tags) > MaxHashtags {
			t.Fatalf("%d tags, limit %d", len(tags), MaxHashtags)
		}
		seen := map[string]bool{}
		for _, tag := range tags {
			if tag == "" || seen[tag] || strings.ToLower(tag) != tag || strings.Contains(tag, "#") {
				t.Fatalf("bad tag %q in %q", tag, tags)
			}
			seen[tag] = true
		}
	})
}
