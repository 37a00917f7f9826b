package crawl

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/shared/identity"
)

// MaxQuery bounds a query's length in bytes.
const MaxQuery = 1000

// ErrBadQuery means a query cannot be parsed (the message says where).
var ErrBadQuery = errors.New("bad query")

// Query is a parsed search: every condition must hold (AND).
type Query struct {
	// Tags are hashtags, lowercase without '#'.
	Tags []string
	// From are authors; more than one distinct author matches nothing.
	From []identity.PublicKey
	// Words are lowercase words the text must contain.
	Words []string
}

// ParseQuery parses "#tag", "from:ID" and plain words, separated by spaces; all must
// match. A '#' that does not start a valid hashtag, or a malformed ID, is an error.
func ParseQuery(s string) (Query, error) {
	var q Query
	if len(s) > MaxQuery {
		return q, fmt.Errorf("%w: %d bytes, the limit is %d", ErrBadQuery, len(s), MaxQuery)
	}
	for _, tok := range strings.Fields(s) {
		switch {
		case strings.HasPrefix(tok, "#"):
			tags := post.Hashtags(tok)
			if len(tags) != 1 || "#"+tags[0] != strings.ToLower(tok) {
				return Query{}, fmt.Errorf("%w: %q is not a hashtag (#letters, digits or _)", ErrBadQuery, clip(tok))
			}
			q.Tags = appendNew(q.Tags, tags[0])
		case strings.HasPrefix(strings.ToLower(tok), "from:"):
			k, err := identity.ParseID(tok[len("from:"):])
			if err != nil {
				return Query{}, fmt.Errorf("%w: %q: %w", ErrBadQuery, clip(tok), err)
			}
			if !slices.Contains(q.From, k) {
				q.From = append(q.From, k)
			}
		default:
			for _, w := range Words(tok) {
				q.Words = appendNew(q.Words, w)
			}
		}
	}
	if len(q.Tags)+len(q.From)+len(q.Words) == 0 {
		return Query{}, fmt.Errorf("%w: nothing to search for; try #tag, from:ID or words", ErrBadQuery)
	}
	return q, nil
}

func appendNew(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
