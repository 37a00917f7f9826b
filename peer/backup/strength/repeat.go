package strength

import "slices"

// repeatMatches finds parts made of one piece written two or more times (aaaa, abcabc),
// left to right, as zxcvbn's pair of regular expressions /(.+)\1+/ and /(.+?)\1+/ find
// them: at the leftmost place where anything repeats, the longer of the greedy and the
// lazy reading, its piece being the shortest one that builds it. The piece is priced by a
// whole estimate of its own, hints included (as zxcvbn's JavaScript does; the Go port
// drops them, so it can only price a repeat higher).
func (e *estimator) repeatMatches(ms []match, pw []rune) []match {
	for from := 0; ; {
		at, long, short := firstRepeat(pw, from)
		if at < 0 {
			return ms
		}
		end := max(runEnd(pw, at, short), runEnd(pw, at, long))
		piece := shortestPiece(pw[at:end])
		g := e.guesses(piece) * float64((end-at)/len(piece))
		ms = append(ms, match{pattern: "repeat", i: at, j: end - 1, guesses: g})
		from = end
	}
}

// firstRepeat is the first index at or after from where a piece is followed by itself,
// with the longest and the shortest such piece's length; at is -1 when there is none.
// A piece never holds a newline (the regular expressions' dot does not match one).
func firstRepeat(pw []rune, from int) (at, long, short int) {
	for at = from; at+2 <= len(pw); at++ {
		for n := 1; at+2*n <= len(pw); n++ {
			if pieceRepeats(pw, at, n) {
				if short == 0 {
					short = n
				}
				long = n
			}
		}
		if short > 0 {
			return at, long, short
		}
	}
	return -1, 0, 0
}

// pieceRepeats tells whether the n runes at at come again right after.
func pieceRepeats(pw []rune, at, n int) bool {
	piece := pw[at : at+n]
	return !slices.Contains(piece, '\n') && slices.Equal(piece, pw[at+n:at+2*n])
}

// runEnd is where the run at at of the n-rune piece there, written as often as it goes
// on, ends.
func runEnd(pw []rune, at, n int) int {
	end := at + n
	for end+n <= len(pw) && slices.Equal(pw[end:end+n], pw[at:at+n]) {
		end += n
	}
	return end
}

// shortestPiece is the shortest piece that, repeated, writes run (run itself at worst).
func shortestPiece(run []rune) []rune {
	for n := 1; ; n++ {
		if len(run)%n == 0 && slices.Equal(run[n:], run[:len(run)-n]) {
			return run[:n]
		}
	}
}
