package public

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Errors of the parsers of path parameters.
var (
	// ErrMalformedPostID means a post id is not 32 lowercase hexadecimal digits.
	ErrMalformedPostID = errors.New("malformed post id: want 32 lowercase hex digits")
	// ErrMalformedHash means a blob address is not 64 lowercase hexadecimal digits.
	ErrMalformedHash = errors.New("malformed blob hash: want 64 lowercase hex digits (SHA-256)")
	// ErrMalformedTag means a hashtag is empty, too long, or has a character that is not
	// a letter, a digit or '_'.
	ErrMalformedTag = errors.New("malformed hashtag: want 1 to 64 letters, digits or '_'")
)

// MaxTagRunes bounds a hashtag's length in characters.
const MaxTagRunes = 64

// PostID is a post's random 128-bit identifier; its text form is 32 lowercase hex digits.
type PostID [16]byte

// String returns the id as 32 lowercase hex digits, the form URLs use.
func (id PostID) String() string { return hex.EncodeToString(id[:]) }

// ParsePostID parses the text form of a post id; only the canonical lowercase form is
// accepted, so one post has one URL.
func ParsePostID(s string) (PostID, error) {
	var id PostID
	if err := parseLowerHex(s, id[:]); err != nil {
		return id, fmt.Errorf("%w (%q)", ErrMalformedPostID, clip(s))
	}
	return id, nil
}

// PostIDFromBytes converts a payload's 16-byte id field.
func PostIDFromBytes(b []byte) (PostID, error) {
	var id PostID
	if len(b) != len(id) {
		return id, fmt.Errorf("%w: got %d bytes", ErrMalformedPostID, len(b))
	}
	copy(id[:], b)
	return id, nil
}

// ParseHash parses a blob address: a SHA-256 as 64 lowercase hex digits.
func ParseHash(s string) ([32]byte, error) {
	var sum [32]byte
	if err := parseLowerHex(s, sum[:]); err != nil {
		return sum, fmt.Errorf("%w (%q)", ErrMalformedHash, clip(s))
	}
	return sum, nil
}

func parseLowerHex(s string, dst []byte) error {
	if len(s) != 2*len(dst) {
		return errors.New("wrong length")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return errors.New("not lowercase hex")
		}
	}
	_, err := hex.Decode(dst, []byte(s))
	return err
}

// NormalizeTag turns a hashtag as a person may type it ("#Kith", "kith") into the form
// signed payloads carry and routes use: lowercase, without '#', 1 to MaxTagRunes
// letters, digits or '_'.
func NormalizeTag(s string) (string, error) {
	// Lowercase first: a few letters lowercase into more than one rune, not all of
	// them letters, and the result must pass the same check as its input.
	s = strings.ToLower(strings.TrimPrefix(s, "#"))
	n := 0
	for _, r := range s {
		if !isTagRune(r) {
			return "", fmt.Errorf("%w (%q)", ErrMalformedTag, clip(s))
		}
		n++
	}
	if n == 0 || n > MaxTagRunes || !utf8.ValidString(s) {
		return "", fmt.Errorf("%w (%q)", ErrMalformedTag, clip(s))
	}
	return s, nil
}

func isTagRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// MaxCursor bounds the length of a pagination cursor.
const MaxCursor = 128

// validCursor reports whether s may be a cursor: short, and made of characters that
// travel in a URL unescaped, so nothing a client sends is reflected in another form.
func validCursor(s string) bool {
	if len(s) == 0 || len(s) > MaxCursor {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
