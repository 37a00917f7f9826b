package strength

import (
	"cmp"
	"slices"
)

// match is a part of a password, runes i to j inclusive, and the guesses an attacker
// needs for it as one pattern (before the search's floor for parts of a password).
type match struct {
	pattern string // "dictionary", "spatial", "repeat", "sequence", "regex", "date"
	i, j    int
	guesses float64
}

// matches finds every pattern in pw. Of several matches of the same part only the one
// needing the fewest guesses is kept: the search would never choose another.
func (e *estimator) matches(pw []rune) []match {
	var ms []match
	ms = e.dictionaryMatches(ms, pw)
	ms = spatialMatches(ms, pw)
	ms = e.repeatMatches(ms, pw)
	ms = sequenceMatches(ms, pw)
	ms = yearMatches(ms, pw, e.year)
	ms = dateMatches(ms, pw, e.year)
	return cheapestPerPart(ms)
}

// cheapestPerPart orders matches by where they end, then where they start (the order the
// search takes them in), keeping the cheapest match of each part.
func cheapestPerPart(ms []match) []match {
	slices.SortStableFunc(ms, func(a, b match) int {
		return cmp.Or(cmp.Compare(a.j, b.j), cmp.Compare(a.i, b.i), cmp.Compare(a.guesses, b.guesses))
	})
	out := ms[:0]
	for _, m := range ms {
		if n := len(out); n > 0 && out[n-1].i == m.i && out[n-1].j == m.j {
			continue
		}
		out = append(out, m)
	}
	return out
}
