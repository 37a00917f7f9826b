package ui

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/post"
)

// segment is a run of a post's text: plain, or a hashtag to link.
type segment struct {
	Text string
	Tag  string // lowercase, without '#', when this run is a hashtag
}

// segments splits text into plain runs and the hashtags post.Hashtags recognises, so the
// template links exactly the tags the timeline filters by.
func segments(text string) []segment {
	tags := map[string]bool{}
	for _, t := range post.Hashtags(text) {
		tags[t] = true
	}
	var out []segment
	plainStart := 0
	for i := 0; i < len(text); {
		if text[i] != '#' {
			_, n := utf8.DecodeRuneInString(text[i:])
			i += n
			continue
		}
		j := i + 1
		for j < len(text) {
			r, n := utf8.DecodeRuneInString(text[j:])
			if !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || r == '_') {
				break
			}
			j += n
		}
		word := text[i+1 : j]
		if tag := strings.ToLower(word); word != "" && tags[tag] && opensTag(text[:i]) {
			if plainStart < i {
				out = append(out, segment{Text: text[plainStart:i]})
			}
			out = append(out, segment{Text: text[i:j], Tag: tag})
			plainStart = j
		}
		i = j
	}
	if plainStart < len(text) {
		out = append(out, segment{Text: text[plainStart:]})
	}
	return out
}

// opensTag mirrors post.Hashtags: a tag starts the text or follows a space or
// punctuation other than '/', '#', '&' and '_'.
func opensTag(before string) bool {
	if before == "" {
		return true
	}
	r, _ := utf8.DecodeLastRuneInString(before)
	return unicode.IsSpace(r) || unicode.IsPunct(r) && !strings.ContainsRune("/#&_", r)
}

// errText is an error's message for a person, without gRPC's decoration.
func errText(err error) string {
	if st, ok := status.FromError(err); ok {
		return st.Message()
	}
	return err.Error()
}
