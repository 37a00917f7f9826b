package strength

import (
	"math"
	"unicode"
)

// The constants of zxcvbn's search.
const (
	bruteforceCardinality = 10    // guesses per character of a part no pattern explains
	minGuessesSingleChar  = 10    // the fewest guesses for a one-character part of a password
	minGuessesMultiChar   = 50    // and for a longer part
	minGuessesBeforeGrow  = 10000 // guesses an attacker spends on each shorter sequence first
)

// guesses is the fewest guesses over all ways to write pw as a sequence of matches and
// brute-forced parts: for a sequence of l parts, l! times the product of the parts'
// guesses (the parts in any order), plus minGuessesBeforeGrow^(l-1) for the shorter
// sequences tried first.
func (e *estimator) guesses(pw []rune) float64 {
	n := len(pw)
	if n == 0 {
		return 1
	}
	ms := e.matches(pw)
	s := search{n: n, best: make([][]step, n)}
	next := 0
	for k := range n {
		for ; next < len(ms) && ms[next].j == k; next++ {
			s.extendWith(ms[next], partGuesses(ms[next], n), false)
		}
		s.bruteforce(pw, k)
	}
	g := math.Inf(1)
	for _, st := range s.best[n-1] {
		g = min(g, st.g)
	}
	return g
}

// step is the best known sequence of l parts covering a prefix of the password.
type step struct {
	l          int
	pi, g      float64 // the product of the parts' guesses; the sequence's guesses
	bruteforce bool    // its last part is brute force
}

// search holds, for each prefix end k, the sequences of each length that may still be
// part of the best one: best[k] sorted by length.
type search struct {
	n    int
	best [][]step
}

// extendWith appends a match of guesses g to every sequence ending just before it (or
// starts a sequence with it).
func (s *search) extendWith(m match, g float64, brute bool) {
	if m.i == 0 {
		s.update(m.j, step{l: 1, pi: g, bruteforce: brute})
		return
	}
	for _, prev := range s.best[m.i-1] {
		if brute && prev.bruteforce {
			continue // two brute-force parts in a row are one cheaper part
		}
		s.update(m.j, step{l: prev.l + 1, pi: prev.pi * g, bruteforce: brute})
	}
}

// bruteforce tries brute force for every part ending at k.
func (s *search) bruteforce(pw []rune, k int) {
	for i := 0; i <= k; i++ {
		s.extendWith(match{i: i, j: k}, bruteforceGuesses(k-i+1), true)
	}
}

// update keeps st as the best sequence of its length ending at k unless one no longer
// and no worse is known.
func (s *search) update(k int, st step) {
	st.g = factorial(st.l)*st.pi + math.Pow(minGuessesBeforeGrow, float64(st.l-1))
	at := len(s.best[k])
	for x, o := range s.best[k] {
		if o.l <= st.l && o.g <= st.g {
			return
		}
		if o.l >= st.l && x < at {
			at = x
		}
	}
	if at < len(s.best[k]) && s.best[k][at].l == st.l {
		s.best[k][at] = st
		return
	}
	s.best[k] = append(s.best[k], step{})
	copy(s.best[k][at+1:], s.best[k][at:])
	s.best[k][at] = st
}

// partGuesses is a match's guesses as a part of an n-rune password: a part shorter than
// the password costs at least a floor, so that a pattern explaining one character is no
// cheaper than guessing it.
func partGuesses(m match, n int) float64 {
	floor := 1.0
	if size := m.j - m.i + 1; size < n {
		floor = minGuessesMultiChar
		if size == 1 {
			floor = minGuessesSingleChar
		}
	}
	return max(m.guesses, floor)
}

// bruteforceGuesses prices n characters no pattern explains, at least one more than a
// match of the same length, so a match wins.
func bruteforceGuesses(n int) float64 {
	floor := float64(minGuessesMultiChar + 1)
	if n == 1 {
		floor = minGuessesSingleChar + 1
	}
	return max(math.Pow(bruteforceCardinality, float64(n)), floor)
}

// uppercaseVariations is how many ways to capitalize a word an attacker tries before
// this one: none for lower case; twice the guesses for the common schemes (first or last
// letter, all capitals); otherwise every way with as few changed letters.
func uppercaseVariations(token []rune) float64 {
	upper, lower := 0, 0
	for _, r := range token {
		upper += btoi(r >= 'A' && r <= 'Z')
		lower += btoi(r >= 'a' && r <= 'z')
	}
	n := len(token)
	switch {
	case upper == 0:
		return 1
	case upper == 1 && n > 1 && (isUpper(token[0]) || isUpper(token[n-1])):
		return 2
	case lower == 0:
		return 2
	}
	g := 0.0
	for i := 1; i <= min(upper, lower); i++ {
		g += nCk(upper+lower, i)
	}
	return g
}

func isUpper(r rune) bool { return r >= 'A' && r <= 'Z' }

// l33tVariations is how many ways to substitute the letters of a word's l33t reading.
func l33tVariations(token []rune, used map[rune]rune) float64 {
	g := 1.0
	for c, letter := range used {
		subbed, unsubbed := 0, 0
		for _, r := range token {
			subbed += btoi(r == c)
			unsubbed += btoi(unicode.ToLower(r) == letter)
		}
		g *= variations(subbed, unsubbed)
	}
	return g
}

// variations counts the ways to change at most min(a, b) of a+b characters, or 2 when
// all or none are changed (the attacker tries both).
func variations(changed, unchanged int) float64 {
	if changed == 0 || unchanged == 0 {
		return 2
	}
	g := 0.0
	for i := 1; i <= min(changed, unchanged); i++ {
		g += nCk(changed+unchanged, i)
	}
	return g
}

// nCk is the binomial coefficient.
func nCk(n, k int) float64 {
	if k > n {
		return 0
	}
	r := 1.0
	for d := 1; d <= k; d++ {
		r = r * float64(n) / float64(d)
		n--
	}
	return r
}

func factorial(n int) float64 {
	f := 1.0
	for i := 2; i <= n; i++ {
		f *= float64(i)
	}
	return f
}
