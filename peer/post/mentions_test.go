package post

import (
	"crypto/rand"
	"errors"
	"testing"

	"github.com/kithnet/kith/shared/identity"
)

// TestPostMentions: a post signs the keys it mentions; Check refuses a mention that is
// not a key, more than MaxMentions, and mentions on a tombstone.
func TestPostMentions(t *testing.T) {
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := identity.Generate(rand.Reader)
	env, p, err := Seal(k, Draft{Text: "hi @x", Mentions: []identity.PublicKey{other.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(env)
	if err != nil || len(got.GetMentions()) != 1 || string(got.GetMentions()[0]) != string(other.Public().Bytes()) {
		t.Fatalf("opened mentions %x, %v; want the one key signed", got.GetMentions(), err)
	}
	many := make([]identity.PublicKey, MaxMentions+1)
	for _, tc := range []struct {
		name   string
		mutate func()
	}{
		{"a mention that is not a key", func() { p.Mentions = [][]byte{make([]byte, 31)} }},
		{"more than MaxMentions", func() {
			p.Mentions = nil
			for _, m := range many {
				p.Mentions = append(p.Mentions, m.Bytes())
			}
		}},
		{"mentions on a tombstone", func() { p.Text, p.Deleted, p.Mentions = "", true, [][]byte{other.Public().Bytes()} }},
	} {
		_, p, _ = Seal(k, Draft{Text: "hi"})
		tc.mutate()
		if err := Check(p); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Check = %v, want ErrInvalid", tc.name, err)
		}
	}
	_, p, _ = Seal(k, Draft{Text: "hi", Mentions: many[:MaxMentions]})
	if err := Check(p); err != nil {
		t.Errorf("exactly MaxMentions: %v", err)
	}
}
