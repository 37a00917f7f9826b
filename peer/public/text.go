package public

import (
	"strings"
	"unicode/utf8"
)

// segment is a run of a post's text: plain text, or a hashtag to link (Tag set).
type segment struct {
	Text string
	Tag  string
}

// segments splits text into plain runs and the hashtags that the signed payload lists,
// so that a template can link exactly those. A '#' word not in tags stays plain text:
// the payload, not the HTTP face, decides what is a hashtag. Joining every Text gives
// back text unchanged.
func segments(text string, tags []string) []segment {
	if len(tags) == 0 || !strings.Contains(text, "#") {
		return []segment{{Text: text}}
	}
	known := make(map[string]bool, len(tags))
	for _, t := range tags {
		known[t] = true
	}
	var out []segment
	plain := 0 // start of the pending plain run
	for i := 0; i < len(text); {
		if text[i] != '#' {
			i++
			continue
		}
		end := i + 1
		for end < len(text) {
			r, n := utf8.DecodeRuneInString(text[end:])
			if r == utf8.RuneError && n <= 1 || !isTagRune(r) {
				break
			}
			end += n
		}
		tag, err := NormalizeTag(text[i:end])
		if err != nil || !known[tag] {
			i = end // end > i: the '#' itself is consumed
			continue
		}
		if plain < i {
			out = append(out, segment{Text: text[plain:i]})
		}
		out = append(out, segment{Text: text[i:end], Tag: tag})
		plain, i = end, end
	}
	if plain < len(text) || len(out) == 0 {
		out = append(out, segment{Text: text[plain:]})
	}
	return out
}
