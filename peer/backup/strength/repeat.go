package strength

import "slices"

// repeatMatches finds parts made of one piece written two or more times (aaaa, abcabc),
// left to right, as zxcvbn's pair of regular expressions /(.+)\1+/ and /(.+?)\1+/ find
// them: at the leftmost place where anything repeats, the longer of the greedy and the
// lazy reading, its piece being the shortest one that builds it. The piece is priced by a
// whole estimate of its own.
func (e *estimator) repeatMatches(ms []match, pw []rune) []match {
	for from := 0; from < len(pw); {
		at, long, short := firstRepeat(pw, from)
		if at < 0 {
			break
		}
		part, piece := repeatedRun(pw, at, short)
		if whole, _ := repeatedRun(pw, at, long); len(whole) > len(part) {
			part, piece = whole, shortestPiece(whole)
		}
		g := e.guesses(piece) * float64(len(part)/len(piece))
		ms = append(ms, match{pattern: "repeat", i: at, j: at + len(part) - 1, guesses: g})
		from = at + len(part)
	}
	return ms
}

// firstRepeat is the first index at or after from where a piece is followed by itself,
// with the longest and the shortest such piece's length; at is -1 when there is none.
// A piece never holds a newline (the regular expressions' dot does not match one).
func firstRepeat(pw []rune, from int) (at, long, short int) {
	for at = from; at < len(pw); at++ {
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

// repeatedRun is the run at at of the n-rune piece there written as often as it goes on,
// and the piece.
func repeatedRun(pw []rune, at, n int) (run, piece []rune) {
	end := at + n
	for end+n <= len(pw) && slices.Equal(pw[end:end+n], pw[at:at+n]) {
		end += n
	}
	return pw[at:end], pw[at : at+n]
}

// shortestPiece is the shortest piece that, repeated, writes run.
func shortestPiece(run []rune) []rune {
	for n := 1; n <= len(run)/2; n++ {
		if len(run)%n == 0 && slices.Equal(run[n:], run[:len(run)-n]) {
			return run[:n]
		}
	}
	return run
}
