// Package strength estimates how many guesses an attacker needs for a password, following
// zxcvbn's model (Wheeler 2016, "zxcvbn: Low-Budget Password Strength Estimation"): it
// finds the words, keyboard walks, repeats, sequences, years and dates a password is made
// of, then the cheapest way to guess it as a sequence of those patterns and brute force.
//
// Its dictionaries and keyboard graphs are built on the first estimate, not when the
// package is loaded: every kith process links it, few ever check a passphrase.
package strength

//go:generate go run gen_words.go

import (
	"sync"
	"time"
	"unicode/utf8"
)

// MaxRunes is how much of a password is estimated: the first MaxRunes characters. The
// cost grows with the square of the length; a passphrase longer than this is strong
// unless its first MaxRunes characters are weak, and then it is refused.
const MaxRunes = 256

// The state every estimate reads, built once by load on the first estimate.
var (
	loadOnce sync.Once
	words    rankedWords // the frequency lists, each word at its best rank
	graphs   []*graph    // qwerty, dvorak, keypad, mac keypad
)

// load builds the dictionaries and keyboard graphs.
func load() {
	words = rankLists(mustWordLists())
	graphs = keyboards()
}

// Guesses estimates how many guesses an attacker needs for pass, who tries the words of
// hints (a person's name, the program's own words) first. Text that is not valid UTF-8
// gets 0, as zxcvbn gives it.
func Guesses(pass string, hints []string) float64 {
	if !utf8.ValidString(pass) {
		return 0
	}
	loadOnce.Do(load)
	pw := []rune(pass)
	pw = pw[:min(len(pw), MaxRunes)]
	e := estimator{year: time.Now().Year(), hints: rankWords(hints)}
	return e.guesses(pw)
}

// estimator carries what one estimate needs besides the shared state.
type estimator struct {
	year  int         // the reference year: dates and years near it are guessed first
	hints rankedWords // the caller's words, ranked in the order given
}
