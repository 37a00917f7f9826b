package identity

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// legacy is the first, 52-character form of k's ID.
func legacy(k PublicKey) string { return encoding.EncodeToString(k[:]) }

func TestParseIDForms(t *testing.T) {
	k := newKey(t).Public()
	id := string(k.ID())
	grouped := func(s, sep string) string {
		var parts []string
		for i := 0; i < len(s); i += 7 {
			parts = append(parts, s[i:min(i+7, len(s))])
		}
		return strings.Join(parts, sep)
	}
	tests := []struct{ name, in string }{
		{"printed", id},
		{"upper case", strings.ToUpper(id)},
		{"dashes", grouped(id, "-")},
		{"spaces", grouped(strings.ToUpper(id), " ")},
		{"surrounding space", "  " + id + "\n"},
		{"legacy", legacy(k)},
		{"legacy upper case", strings.ToUpper(legacy(k))},
		{"legacy grouped", grouped(legacy(k), "-")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseID(tc.in)
			if err != nil {
				t.Fatalf("ParseID(%q): %v", tc.in, err)
			}
			if got != k {
				t.Fatalf("ParseID(%q) = %s, want %s", tc.in, got, k)
			}
		})
	}
}

// TestParseIDCatchesEveryTypo changes each character of an ID to every other character
// of the alphabet: each is refused, and the message names the character changed.
func TestParseIDCatchesEveryTypo(t *testing.T) {
	for range 3 {
		id := string(newKey(t).ID())
		for i := range len(id) {
			for _, c := range alphabet {
				if byte(c) == id[i] {
					continue
				}
				typo := id[:i] + string(c) + id[i+1:]
				_, err := ParseID(typo)
				if !errors.Is(err, ErrIDCheck) || !errors.Is(err, ErrMalformedID) {
					t.Fatalf("ParseID(%q) (character %d changed) = %v, want ErrIDCheck", typo, i+1, err)
				}
				if want := fmt.Sprintf("character %d (%q) looks mistyped", i+1, c); !strings.Contains(err.Error(), want) {
					t.Fatalf("ParseID(%q): %q, want it to say %q", typo, err, want)
				}
			}
		}
	}
}

// TestParseIDCatchesSwaps swaps every pair of neighbours that differ: always refused.
func TestParseIDCatchesSwaps(t *testing.T) {
	id := string(newKey(t).ID())
	for i := range len(id) - 1 {
		if id[i] == id[i+1] {
			continue
		}
		swapped := id[:i] + string(id[i+1]) + string(id[i]) + id[i+2:]
		if _, err := ParseID(swapped); !errors.Is(err, ErrMalformedID) {
			t.Fatalf("ParseID with characters %d and %d swapped = %v, want an error", i+1, i+2, err)
		}
	}
}

// FuzzParseID: whatever is typed, ParseID never panics; what it accepts prints back as
// an ID that parses to the same key; a single changed character of that is refused.
func FuzzParseID(f *testing.F) {
	k := newKeyF(f).Public()
	f.Add(string(k.ID()))
	f.Add(legacy(k))
	f.Add(strings.ToUpper(string(k.ID())))
	f.Add("abcd-efgh ijkl")
	f.Add("")
	f.Add(strings.Repeat("-", 60))
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseID(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedID) {
				t.Fatalf("ParseID(%q): error %v is not ErrMalformedID", s, err)
			}
			return
		}
		id := string(got.ID())
		again, err := ParseID(id)
		if err != nil || again != got {
			t.Fatalf("ParseID(%q) = %s, whose ID %q parses to %v, %v", s, got, id, again, err)
		}
		i := len(s) % len(id)
		c := alphabet[(strings.IndexByte(alphabet, id[i])+1)%32]
		if _, err := ParseID(id[:i] + string(c) + id[i+1:]); !errors.Is(err, ErrIDCheck) {
			t.Fatalf("ID %q with character %d changed: %v, want ErrIDCheck", id, i+1, err)
		}
	})
}

func newKeyF(f *testing.F) *Key {
	k, err := FromSeed(make([]byte, 32))
	if err != nil {
		f.Fatal(err)
	}
	return k
}
