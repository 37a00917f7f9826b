package identity

import (
	"errors"
	"fmt"
	"strings"
)

// An ID as people see it carries check characters, so that a mistyped ID is caught when
// it is typed instead of naming some other, unknown key. The 52 characters of the key
// are two halves of 26; each half gets two check characters that make it a codeword of a
// single-error-correcting code over GF(32) (a shortened Reed-Solomon code with two parity
// symbols, as Syncthing's device IDs carry a Luhn character per group). Over one half
// every single wrong character is caught and located, and every two wrong characters
// (a swap of neighbours, say) are caught. The result is 56 characters, lowercase.

// Lengths of the ID forms.
const (
	// IDLen is the length of an ID with its check characters, as ID prints it.
	IDLen = encodedLen + 2*checkPerHalf
	// LegacyIDLen is the length of an ID without check characters (the first form,
	// accepted by ParseID during the transition).
	LegacyIDLen = encodedLen

	half         = encodedLen / 2 // data characters per half
	checkPerHalf = 2
	block        = half + checkPerHalf
)

// ErrIDCheck means an ID of the right length fails its check: a character is mistyped.
var ErrIDCheck = errors.New("ID check failed")

// gfExp and gfLog are GF(32) tables for the primitive polynomial x^5 + x^2 + 1.
var gfExp, gfLog = gfTables()

func gfTables() (exp [62]byte, log [32]byte) {
	x := byte(1)
	for i := range 31 {
		exp[i], exp[i+31] = x, x
		log[x] = byte(i)
		x <<= 1
		if x&32 != 0 {
			x ^= 0b100101
		}
	}
	return exp, log
}

func gfMul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return gfExp[int(gfLog[a])+int(gfLog[b])]
}

func gfDiv(a, b byte) byte { // b != 0
	if a == 0 {
		return 0
	}
	return gfExp[int(gfLog[a])+31-int(gfLog[b])]
}

// syndromes returns sum(v_i) and sum(alpha^i v_i) over a block's symbol values.
func syndromes(v []byte) (s0, s1 byte) {
	for i, x := range v {
		s0 ^= x
		s1 ^= gfMul(gfExp[i], x)
	}
	return s0, s1
}

// withCheck appends the check characters to each half of a canonical 52-character ID.
func withCheck(id string) string {
	var b strings.Builder
	b.Grow(IDLen)
	for h := range 2 {
		data := values(id[h*half : (h+1)*half])
		a, s := syndromes(data)
		// c26 + c27 = a and alpha^26 c26 + alpha^27 c27 = s make both syndromes zero.
		c26 := gfDiv(s^gfMul(gfExp[half+1], a), gfExp[half]^gfExp[half+1])
		c27 := a ^ c26
		b.WriteString(id[h*half : (h+1)*half])
		b.WriteByte(alphabet[c26])
		b.WriteByte(alphabet[c27])
	}
	return b.String()
}

// stripCheck checks a 56-character ID (normalised: lowercase, no separators) and returns
// its 52 key characters, or says which character looks mistyped.
func stripCheck(s string) (string, error) {
	var key strings.Builder
	for h := range 2 {
		blk := s[h*block : (h+1)*block]
		s0, s1 := syndromes(values(blk))
		if s0 != 0 || s1 != 0 {
			if s0 != 0 && s1 != 0 {
				if j := int(gfLog[gfDiv(s1, s0)]); j < block {
					pos := h*block + j
					return "", fmt.Errorf("%w: character %d (%q) looks mistyped", ErrIDCheck, pos+1, s[pos])
				}
			}
			return "", fmt.Errorf("%w: more than one of characters %d to %d look mistyped", ErrIDCheck, h*block+1, (h+1)*block)
		}
		key.WriteString(blk[:half])
	}
	return key.String(), nil
}

const alphabet = "abcdefghijklmnopqrstuvwxyz234567"

// values maps base32 characters (already checked) to their values.
func values(s string) []byte {
	out := make([]byte, len(s))
	for i := range len(s) {
		out[i] = byte(strings.IndexByte(alphabet, s[i]))
	}
	return out
}

// normalize lowercases an ID as typed and drops the spaces and dashes people group it
// with; anything else stays, for decode32 to name.
func normalize(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, " -\t") && strings.ToLower(s) == s {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case ' ', '-', '\t':
			continue
		}
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
