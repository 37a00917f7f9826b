package strength

import (
	"math"
	"strings"
)

// spatialMatches finds walks of three or more neighbouring keys on each keyboard.
func spatialMatches(ms []match, pw []rune) []match {
	for _, g := range graphs {
		ms = walks(ms, pw, g)
	}
	return ms
}

// walks finds the longest walks on g, left to right, counting the walk's turns (changes
// of direction) and its shifted characters.
func walks(ms []match, pw []rune, g *graph) []match {
	for i := 0; i < len(pw); {
		j, dir, turns, shifted := i+1, -1, 0, 0
		if g.shifted[pw[i]] {
			shifted++
		}
		for ; j < len(pw); j++ {
			d, shift := direction(g, pw[j-1], pw[j])
			if d < 0 {
				break
			}
			if shift {
				shifted++
			}
			if d != dir {
				turns++ // a walk starts with a turn too
				dir = d
			}
		}
		if j-i > 2 {
			ms = append(ms, match{pattern: "spatial", i: i, j: j - 1, guesses: walkGuesses(g, j-i, turns, shifted)})
		}
		i = j
	}
	return ms
}

// direction is the direction from key a to key b on g (-1 when they do not touch), and whether
// b is typed with shift.
func direction(g *graph, a, b rune) (int, bool) {
	for d, key := range g.adj[a] {
		if k := strings.IndexRune(key, b); k >= 0 {
			return d, k == 1
		}
	}
	return -1, false
}

// walkGuesses counts the walks of up to n keys with up to turns turns, starting anywhere,
// times the ways to shift some of their keys.
func walkGuesses(g *graph, n, turns, shifted int) float64 {
	priced := graphs[2] // both keypads are priced as the keypad
	if g.slanted {
		priced = graphs[0] // and both typewriter keyboards as qwerty
	}
	starts, degree := float64(len(priced.adj)), priced.degree
	guesses := 0.0
	for i := 2; i <= n; i++ {
		for t := 1; t <= min(turns, i-1); t++ {
			guesses += nCk(i-1, t-1) * starts * math.Pow(degree, float64(t))
		}
	}
	if shifted > 0 {
		guesses *= variations(shifted, n-shifted)
	}
	return guesses
}
