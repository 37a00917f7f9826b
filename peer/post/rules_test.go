package post

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	"github.com/kithnet/kith/shared/identity"
)

// valid returns a payload that passes Check; each case of TestCheckEdges changes one thing.
func valid(k *identity.Key) *postv1.Payload {
	return &postv1.Payload{Id: make([]byte, IDSize), Author: k.Public().Bytes(), Version: 1,
		CreatedUnixMs: 1000, UpdatedUnixMs: 1000, Text: "hi",
		Visibility: postv1.Visibility_VISIBILITY_PRIVATE}
}

// TestCheckEdges walks every rule of Check at its edge: the last value allowed passes,
// the first one past it fails.
func TestCheckEdges(t *testing.T) {
	k := key(t)
	sum := make([]byte, 32)
	att := func(a *postv1.Attachment) []*postv1.Attachment {
		if a.Sha256 == nil {
			a.Sha256 = sum
		}
		return []*postv1.Attachment{a}
	}
	tags := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "t" + strings.Repeat("x", i)
		}
		return out
	}
	tests := []struct {
		name string
		edit func(p *postv1.Payload)
		ok   bool
	}{
		{"valid", func(p *postv1.Payload) {}, true},
		{"id of 15 bytes", func(p *postv1.Payload) { p.Id = make([]byte, 15) }, false},
		{"id of 17 bytes", func(p *postv1.Payload) { p.Id = make([]byte, 17) }, false},
		{"version 0", func(p *postv1.Payload) { p.Version = 0 }, false},
		{"text of exactly MaxText", func(p *postv1.Payload) { p.Text = strings.Repeat("a", MaxText) }, true},
		{"text of MaxText+1", func(p *postv1.Payload) { p.Text = strings.Repeat("a", MaxText+1) }, false},
		{"text not UTF-8", func(p *postv1.Payload) { p.Text = "a\xffb" }, false},
		{"MaxAttachments attachments", func(p *postv1.Payload) {
			p.Attachments = slices.Repeat([]*postv1.Attachment{{Sha256: sum}}, MaxAttachments)
		}, true},
		{"MaxAttachments+1 attachments", func(p *postv1.Payload) {
			p.Attachments = slices.Repeat([]*postv1.Attachment{{Sha256: sum}}, MaxAttachments+1)
		}, false},
		{"MaxHashtags hashtags", func(p *postv1.Payload) { p.Hashtags = tags(MaxHashtags) }, true},
		{"MaxHashtags+1 hashtags", func(p *postv1.Payload) { p.Hashtags = tags(MaxHashtags + 1) }, false},
		{"public", func(p *postv1.Payload) { p.Visibility = postv1.Visibility_VISIBILITY_PUBLIC }, true},
		{"unspecified visibility", func(p *postv1.Payload) { p.Visibility = 0 }, false},
		{"unknown visibility", func(p *postv1.Payload) { p.Visibility = 3 }, false},
		{"updated when created", func(p *postv1.Payload) { p.UpdatedUnixMs = p.CreatedUnixMs }, true},
		{"updated a millisecond before created", func(p *postv1.Payload) { p.UpdatedUnixMs = p.CreatedUnixMs - 1 }, false},
		{"empty tombstone", func(p *postv1.Payload) { p.Text, p.Deleted = "", true }, true},
		{"tombstone with text", func(p *postv1.Payload) { p.Deleted = true }, false},
		{"tombstone with an attachment", func(p *postv1.Payload) {
			p.Text, p.Deleted, p.Attachments = "", true, att(&postv1.Attachment{})
		}, false},
		{"attachment hash of 31 bytes", func(p *postv1.Payload) { p.Attachments = att(&postv1.Attachment{Sha256: sum[:31]}) }, false},
		{"attachment of exactly 1 GiB", func(p *postv1.Payload) { p.Attachments = att(&postv1.Attachment{Size: MaxAttachmentSize}) }, true},
		{"attachment of 1 GiB + 1", func(p *postv1.Payload) { p.Attachments = att(&postv1.Attachment{Size: MaxAttachmentSize + 1}) }, false},
		{"media type of 255 bytes", func(p *postv1.Payload) { p.Attachments = att(&postv1.Attachment{MediaType: strings.Repeat("m", 255)}) }, true},
		{"media type of 256 bytes", func(p *postv1.Payload) { p.Attachments = att(&postv1.Attachment{MediaType: strings.Repeat("m", 256)}) }, false},
		{"media type not UTF-8", func(p *postv1.Payload) { p.Attachments = att(&postv1.Attachment{MediaType: "image/\xff"}) }, false},
		{"file name of 255 bytes", func(p *postv1.Payload) { p.Attachments = att(&postv1.Attachment{FileName: strings.Repeat("f", 255)}) }, true},
		{"file name of 256 bytes", func(p *postv1.Payload) { p.Attachments = att(&postv1.Attachment{FileName: strings.Repeat("f", 256)}) }, false},
		{"file name not UTF-8", func(p *postv1.Payload) { p.Attachments = att(&postv1.Attachment{FileName: "a\xff.jpg"}) }, false},
		{"file name with a slash", func(p *postv1.Payload) { p.Attachments = att(&postv1.Attachment{FileName: "a/b.jpg"}) }, false},
		{"file name with a backslash", func(p *postv1.Payload) { p.Attachments = att(&postv1.Attachment{FileName: `a\b.jpg`}) }, false},
		{"file name ..", func(p *postv1.Payload) { p.Attachments = att(&postv1.Attachment{FileName: ".."}) }, false},
		{"file name .", func(p *postv1.Payload) { p.Attachments = att(&postv1.Attachment{FileName: "."}) }, false},
		{"a plain file name", func(p *postv1.Payload) { p.Attachments = att(&postv1.Attachment{FileName: "beach.png"}) }, true},
		{"second attachment bad", func(p *postv1.Payload) {
			p.Attachments = []*postv1.Attachment{{Sha256: sum}, {Sha256: sum[:1]}}
		}, false},
	}
	for _, tt := range tests {
		p := valid(k)
		tt.edit(p)
		err := Check(p)
		if tt.ok && err != nil {
			t.Errorf("%s: Check = %v, want nil", tt.name, err)
		}
		if !tt.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Check = %v, want ErrInvalid", tt.name, err)
		}
	}
}

// TestSealFillsDraft: Seal draws an id, starts at version 1, dates version 1 at Now,
// keeps what the draft gives, and marks the visibility class.
func TestSealFillsDraft(t *testing.T) {
	k := key(t)
	now := time.UnixMilli(1_700_000_000_000)
	_, p, err := Seal(k, Draft{Now: now, Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != 1 || p.CreatedUnixMs != now.UnixMilli() || p.UpdatedUnixMs != now.UnixMilli() ||
		p.Visibility != postv1.Visibility_VISIBILITY_PRIVATE || ID(p.Id) == (ID{}) {
		t.Fatalf("a new draft sealed as %v", p)
	}
	id := ID{1, 2, 3}
	created := now.Add(-time.Hour)
	_, p, err = Seal(k, Draft{ID: id, Version: 7, Created: created, Now: now, Public: true})
	if err != nil {
		t.Fatal(err)
	}
	if ID(p.Id) != id || p.Version != 7 || p.CreatedUnixMs != created.UnixMilli() ||
		p.Visibility != postv1.Visibility_VISIBILITY_PUBLIC {
		t.Fatalf("an edit sealed as %v", p)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestIDs(t *testing.T) {
	if _, err := NewID(failingReader{}); err == nil {
		t.Error("NewID with a failing source returned an id")
	}
	a, _ := NewID(nil)
	b, _ := NewID(nil)
	if a == b || a == (ID{}) {
		t.Errorf("two new ids %s %s: want distinct random ids", a, b)
	}
	if got, err := ParseID(a[:]); err != nil || got != a {
		t.Errorf("ParseID round trip: %v %v", got, err)
	}
	for _, n := range []int{0, IDSize - 1, IDSize + 1} {
		if _, err := ParseID(make([]byte, n)); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseID of %d bytes: %v, want ErrInvalid", n, err)
		}
	}
	if s := a.String(); len(s) != 2*IDSize {
		t.Errorf("String() = %q, want %d hex digits", s, 2*IDSize)
	}
	if _, err := ParseIDString("abc"); err == nil || !strings.Contains(err.Error(), "want 32 hex digits") {
		t.Errorf("ParseIDString of 3 characters: %v; want it to say 32 hex digits", err)
	}
	long := strings.Repeat("z", 200)
	_, err := ParseIDString(long)
	if err == nil || strings.Contains(err.Error(), strings.Repeat("z", 65)) || !strings.Contains(err.Error(), strings.Repeat("z", 64)+"...") {
		t.Errorf("ParseIDString of 200 characters: %v; want the input clipped at 64", err)
	}
	_, err = ParseIDString(strings.Repeat("z", 64))
	if err == nil || strings.Contains(err.Error(), "...") {
		t.Errorf("ParseIDString of 64 characters: %v; want the input whole", err)
	}
}

// TestOpenFromNamesTheSigner: a post from someone else is refused with a short prefix
// of the signer's key in the message (never more than 4 bytes of it).
func TestOpenFromNamesTheSigner(t *testing.T) {
	k, want := key(t), key(t)
	env, _, err := Seal(k, Draft{Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = OpenFrom(env, want.Public())
	if !errors.Is(err, ErrWrongAuthor) {
		t.Fatalf("OpenFrom: %v, want ErrWrongAuthor", err)
	}
	pk := k.Public()
	if msg := err.Error(); !strings.Contains(msg, "signed by "+hex4(pk[:4])+"...") {
		t.Errorf("error %q does not name the signer by its first 4 bytes", msg)
	}
	env.Signer = pk[:3]
	if _, err := OpenFrom(env, want.Public()); err == nil || !strings.Contains(err.Error(), "signed by "+hex4(pk[:3])+"...") {
		t.Errorf("a 3-byte signer: %v", err)
	}
}

func hex4(b []byte) string {
	const digits = "0123456789abcdef"
	var s strings.Builder
	for _, c := range b {
		s.WriteByte(digits[c>>4])
		s.WriteByte(digits[c&15])
	}
	return s.String()
}

// TestHashtagEdges: a tag of 100 bytes counts, one of 101 does not; at most MaxHashtags.
func TestHashtagEdges(t *testing.T) {
	if got := Hashtags("#" + strings.Repeat("a", maxTagLen)); len(got) != 1 {
		t.Errorf("a tag of %d bytes: %q, want it", maxTagLen, got)
	}
	if got := Hashtags("#" + strings.Repeat("a", maxTagLen+1)); len(got) != 0 {
		t.Errorf("a tag of %d bytes: %q, want none", maxTagLen+1, got)
	}
	var b strings.Builder
	for i := range MaxHashtags + 5 {
		b.WriteString(" #t")
		b.WriteString(strings.Repeat("x", i))
	}
	if got := Hashtags(b.String()); len(got) != MaxHashtags || got[0] != "t" || got[MaxHashtags-1] != "t"+strings.Repeat("x", MaxHashtags-1) {
		t.Errorf("%d tags: got %d (first %q), want the first %d", MaxHashtags+5, len(got), got[:1], MaxHashtags)
	}
}
