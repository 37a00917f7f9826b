package post

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxTagLen bounds one hashtag, in bytes.
const maxTagLen = 100

// Hashtags returns the distinct hashtags of text, lowercase, without '#', in order of
// first appearance. A tag starts with '#' at the start of the text, after a space or
// after punctuation other than '/', '#' and '&' (so "a#b", "##b" and URLs' fragments are
// not tags), and runs over letters, digits, marks and '_'. Digits only is not a tag ("#1").
func Hashtags(text string) []string {
	var tags []string
	seen := map[string]bool{}
	prev := rune(' ')
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		if r != '#' || !opensTag(prev) {
			prev = r
			i += n
			continue
		}
		j := i + n
		for j < len(text) {
			r2, n2 := utf8.DecodeRuneInString(text[j:])
			if !isTagRune(r2) {
				break
			}
			j += n2
		}
		tag := strings.ToLower(text[i+n : j])
		if tag != "" && len(tag) <= maxTagLen && !allDigits(tag) && !seen[tag] && len(tags) < MaxHashtags {
			seen[tag] = true
			tags = append(tags, tag)
		}
		prev = '#' // a tag, or a lone '#', ends here: no tag may start right after it
		i = j
	}
	return tags
}

func opensTag(prev rune) bool {
	return unicode.IsSpace(prev) || unicode.IsPunct(prev) && !strings.ContainsRune("/#&_", prev)
}

func isTagRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

func allDigits(s string) bool {
	for _, r := range s {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}
