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
	s := search{best: make([][]step, n)}
	next := 0
	for k := range n {
		for ; next < len(ms) && ms[next].j == k; next++ {
			s.extendWith(ms[next], partGuesses(ms[next], n), false)
		}
		s.bruteforce(k)
	}
	g := math.Inf(1)
	for _, st := range s.best[n-1] {
		if st.l > 0 {
			g = min(g, st.g)
		}
	}
	return g
}

// step is the best known sequence of l parts covering a prefix of the password; l is 0
// where none is known.
type step struct {
	l          int
	pi, g      float64 // the product of the parts' guesses; the sequence's guesses
	bruteforce bool    // its last part is brute force
}

// search holds, for each prefix end k, the sequences that may still be part of the best
// one: best[k][l] for l parts.
type search struct {
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
		if prev.l == 0 || (brute && prev.bruteforce) {
			continue // two brute-force parts in a row are one cheaper part
		}
		s.update(m.j, step{l: prev.l + 1, pi: prev.pi * g, bruteforce: brute})
	}
}

// bruteforce tries brute force for every part ending at k.
func (s *search) bruteforce(k int) {
	for i := 0; i <= k; i++ {
		s.extendWith(match{i: i, j: k}, bruteforceGuesses(k-i+1), true)
	}
}

// update keeps st as the best sequence of its length ending at k unless one no longer
// and no worse is known.
func (s *search) update(k int, st step) {
	st.g = factorial(st.l)*st.pi + math.Pow(minGuessesBeforeGrow, float64(st.l-1))
	best := s.best[k]
	for _, o := range best[:min(len(best), st.l+1)] {
		if o.l > 0 && o.g <= st.g {
			return
		}
	}
	for len(best) <= st.l {
		best = append(best, step{})
	}
	best[st.l] = st
	s.best[k] = best
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

// bruteforceGuesses prices n characters no pattern explains, at least one more than the
// floor of a match of the same length, so a match wins. (Two or more characters cost
// 100 or more, above the longer parts' floor of 51.)
func bruteforceGuesses(n int) float64 {
	return max(math.Pow(bruteforceCardinality, float64(n)), minGuessesSingleChar+1)
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
	if upper == 0 {
		return 1
	}
	if lower == 0 || (upper == 1 && (isUpper(token[0]) || isUpper(token[n-1]))) {
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

// nCk is the binomial coefficient; callers have k < n.
func nCk(n, k int) float64 {
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
