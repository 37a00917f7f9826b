package crawl

import (
	"strings"
	"unicode"

	"github.com/kithnet/kith/shared/identity"
)

// MaxMentions bounds how many IDs one post may contribute as edges.
const MaxMentions = 100

// Words returns the lowercase words of text: runs of letters, digits and marks. It is
// what a word in a query matches ("#kith" holds the word "kith").
func Words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.Is(unicode.Mn, r)
	})
}

// Mentions returns the distinct IDs written in text (an ID of 56 characters, or 52 in
// the first form, alone or after '@'), in order of first appearance, at most MaxMentions: the edges a public post gives.
func Mentions(text string) []identity.PublicKey {
	var out []identity.PublicKey
	seen := map[identity.PublicKey]bool{}
	for _, w := range strings.FieldsFunc(text, func(r rune) bool { return !isBase32(r) }) {
		if len(w) != identity.IDLen && len(w) != identity.LegacyIDLen {
			continue
		}
		k, err := identity.ParseID(w)
		if err != nil || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, k)
		if len(out) == MaxMentions {
			break
		}
	}
	return out
}

func isBase32(r rune) bool { return r >= 'a' && r <= 'z' || r >= '2' && r <= '7' }
