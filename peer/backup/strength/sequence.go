package strength

import "strings"

// sequenceMatches finds runs like abcd, 9753 or ZYX: characters whose codes step by the
// same amount (at most 5 either way). A run of two counts only with a step of one.
func sequenceMatches(ms []match, pw []rune) []match {
	if len(pw) < 2 {
		return ms
	}
	i, last := 0, int(pw[1])-int(pw[0])
	for k := 2; k < len(pw); k++ {
		d := int(pw[k]) - int(pw[k-1])
		if d == last {
			continue
		}
		ms = sequence(ms, pw, i, k-1, last)
		i, last = k-1, d
	}
	return sequence(ms, pw, i, len(pw)-1, last)
}

// sequence adds the run pw[i..j] with step delta when it counts as a sequence.
func sequence(ms []match, pw []rune, i, j, delta int) []match {
	size := max(delta, -delta)
	if size == 0 || size > 5 || (j-i < 2 && size != 1) {
		return ms
	}
	// Fewer guesses for the obvious starting points.
	base := 26.0
	if first := pw[i]; strings.ContainsRune("aAzZ019", first) {
		base = 4
	} else if strings.ContainsRune("2345678", first) {
		base = 10
	}
	if delta != size {
		base *= 2 // descending runs are tried after the ascending ones
	}
	return append(ms, match{pattern: "sequence", i: i, j: j, guesses: base * float64(j-i+1)})
}
