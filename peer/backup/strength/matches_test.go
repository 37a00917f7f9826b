package strength

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/trustelem/zxcvbn/matching"
	"github.com/trustelem/zxcvbn/scoring"
)

// Matcher by matcher, part by part: over the ASCII passwords of the corpus, every part
// the reference finds a pattern in, ours finds too, at the same price (the cheapest
// pattern of each part, floors applied), or cheaper where the reference loses l33t
// readings; ours finds no part the reference does not, but by those readings.
func TestMatchesAgreeWithReference(t *testing.T) {
	pws := corpus(t)
	parts, same := 0, 0
	for x, pw := range pws {
		if x%4 != 0 || !isASCII(pw) {
			continue
		}
		ref := map[string]float64{}
		for _, m := range matching.Omnimatch(pw, kithHints) {
			g := scoring.EstimateGuesses(m, pw)
			k := fmt.Sprint(m.I, m.J)
			if old, ok := ref[k]; !ok || g < old {
				ref[k] = g
			}
		}
		e := estimator{year: time.Now().Year(), hints: rankWords(kithHints)}
		loadOnce.Do(load)
		rs := []rune(pw)
		ours := map[string]float64{}
		for _, m := range e.matches(rs) {
			ours[fmt.Sprint(m.i, m.j)] = partGuesses(m, len(rs))
		}
		for k, g := range ref {
			parts++
			switch o, ok := ours[k]; {
			case !ok:
				t.Errorf("%q: no match at %s, the reference prices one at %.6g", pw, k, g)
			case math.Abs(o-g) <= 1e-9*g:
				same++
			case o > g:
				t.Errorf("%q at %s: %.6g guesses, the reference %.6g", pw, k, o, g)
			}
		}
		for k, o := range ours {
			if _, ok := ref[k]; !ok {
				t.Logf("%q: match at %s (%.6g) the reference does not find", pw, k, o)
			}
		}
	}
	t.Logf("%d parts, %d priced the same", parts, same)
	if parts < 5000 || float64(same) < 0.99*float64(parts) {
		t.Errorf("%d of %d parts priced the same, want 99%% of at least 5000", same, parts)
	}
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
