package strength

import (
	"sort"
	"unicode"
	"unicode/utf8"
)

// l33tTable lists the characters people type for a letter (4 for a, $ for s), in
// alphabetical order of the letters, the order zxcvbn enumerates readings in.
var l33tTable = []struct {
	letter rune
	chars  []rune
}{
	{'a', []rune{'4', '@'}},
	{'b', []rune{'8'}},
	{'c', []rune{'(', '{', '[', '<'}},
	{'e', []rune{'3'}},
	{'g', []rune{'6', '9'}},
	{'i', []rune{'1', '!', '|'}},
	{'l', []rune{'1', '|', '7'}},
	{'o', []rune{'0'}},
	{'s', []rune{'$', '5'}},
	{'t', []rune{'+', '7'}},
	{'x', []rune{'%'}},
	{'z', []rune{'2'}},
}

// dictionaryMatches finds the words of the frequency lists and of the hints in pw, as
// written, reversed, and with l33t characters read as letters.
func (e *estimator) dictionaryMatches(ms []match, pw []rune) []match {
	ms = e.wordMatches(ms, pw, pw, nil, false)
	ms = e.wordMatches(ms, pw, reversed(pw), nil, true)
	for _, sub := range l33tSubs(pw) {
		ms = e.wordMatches(ms, pw, translate(pw, sub), sub, false)
	}
	return ms
}

// wordMatches finds words in text, which is pw reversed, pw with sub applied, or pw
// itself; the matches are placed and priced on pw.
func (e *estimator) wordMatches(ms []match, pw, text []rune, sub map[rune]rune, rev bool) []match {
	low, at := lowered(text)
	longest := max(words.maxLen, e.hints.maxLen)
	n := len(text)
	for i := range n {
		for j := i; j < min(n, i+longest); j++ {
			rank, ok := e.rank(low[at[i]:at[j+1]])
			if !ok {
				continue
			}
			pi, pj := i, j
			if rev {
				pi, pj = n-1-j, n-1-i
			}
			token := pw[pi : pj+1]
			g := float64(rank) * uppercaseVariations(token)
			if rev {
				g *= 2
			}
			if sub != nil {
				used := usedSubs(token, sub)
				if len(token) <= 1 || len(used) == 0 {
					continue // a l33t match must read a l33t character; one character is noise
				}
				g *= l33tVariations(token, used)
			}
			ms = append(ms, match{pattern: "dictionary", i: pi, j: pj, guesses: g})
		}
	}
	return ms
}

// rank is a word's best rank in the frequency lists and the hints.
func (e *estimator) rank(word []byte) (int, bool) {
	r, ok := words.rank[string(word)]
	if h, hok := e.hints.rank[string(word)]; hok {
		if ok {
			h = min(h, r)
		}
		return h, true
	}
	return r, ok
}

// lowered writes text in lower case as UTF-8, with the byte offset of each rune (and of
// the end), so that any run of runes is a byte slice to look up without copying.
func lowered(text []rune) ([]byte, []int) {
	low := make([]byte, 0, len(text))
	at := make([]int, len(text)+1)
	for k, r := range text {
		at[k] = len(low)
		low = utf8.AppendRune(low, unicode.ToLower(r))
	}
	at[len(text)] = len(low)
	return low, at
}

func reversed(pw []rune) []rune {
	out := make([]rune, len(pw))
	for i, r := range pw {
		out[len(pw)-1-i] = r
	}
	return out
}

func translate(pw []rune, sub map[rune]rune) []rune {
	out := make([]rune, len(pw))
	for i, r := range pw {
		if l, ok := sub[r]; ok {
			r = l
		}
		out[i] = r
	}
	return out
}

// usedSubs is the part of sub whose l33t characters occur in token.
func usedSubs(token []rune, sub map[rune]rune) map[rune]rune {
	used := make(map[rune]rune)
	for _, r := range token {
		if l, ok := sub[r]; ok {
			used[r] = l
		}
	}
	return used
}

// l33tSubs lists the ways to read the l33t characters of pw as letters, as zxcvbn
// enumerates them: letter by letter (in alphabetical order), each of the letter's l33t
// characters found in pw either extends every reading so far or, when the character is
// already read as another letter, adds a reading that takes it for this letter instead.
func l33tSubs(pw []rune) []map[rune]rune {
	in := make(map[rune]bool, len(pw))
	for _, r := range pw {
		in[r] = true
	}
	subs := []l33tSub{{}}
	for _, row := range l33tTable {
		letter := row.letter
		var next []l33tSub
		for _, c := range row.chars {
			if !in[c] {
				continue
			}
			for _, s := range subs {
				if _, taken := s.get(c); !taken {
					next = append(next, s.with(c, letter))
					continue
				}
				next = append(next, s, s.with(c, letter))
			}
		}
		if next != nil {
			subs = dedupSubs(next)
		}
	}
	var out []map[rune]rune
	for _, s := range subs {
		if len(s) > 0 {
			out = append(out, s.asMap())
		}
	}
	return out
}

// l33tSub is one reading: pairs of a l33t character and its letter, sorted by character.
type l33tSub []l33tPair

type l33tPair struct{ c, letter rune }

func (s l33tSub) get(c rune) (rune, bool) {
	for _, p := range s {
		if p.c == c {
			return p.letter, true
		}
	}
	return 0, false
}

// with is a copy of s reading c as letter.
func (s l33tSub) with(c, letter rune) l33tSub {
	out := make(l33tSub, 0, len(s)+1)
	for _, p := range s {
		if p.c != c {
			out = append(out, p)
		}
	}
	out = append(out, l33tPair{c, letter})
	sort.Slice(out, func(a, b int) bool { return out[a].c < out[b].c })
	return out
}

func (s l33tSub) key() string {
	var b []rune
	for _, p := range s {
		b = append(b, p.c, p.letter)
	}
	return string(b)
}

func (s l33tSub) asMap() map[rune]rune {
	m := make(map[rune]rune, len(s))
	for _, p := range s {
		m[p.c] = p.letter
	}
	return m
}

func dedupSubs(subs []l33tSub) []l33tSub {
	seen := make(map[string]bool, len(subs))
	out := subs[:0]
	for _, s := range subs {
		if k := s.key(); !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	return out
}
