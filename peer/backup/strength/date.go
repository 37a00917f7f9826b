package strength

import (
	"math"
	"strconv"
	"unicode"
)

// Years and dates are priced by their distance from the reference year, never less than
// minYearSpace years.
const (
	minYearSpace = 20
	dateMinYear  = 1000
	dateMaxYear  = 2050
)

// yearMatches finds recent years as zxcvbn's /19\d\d|200\d|201\d/ does: left to right,
// not overlapping.
func yearMatches(ms []match, pw []rune, year int) []match {
	for i := 0; i+4 <= len(pw); {
		if !isRecentYear(pw[i : i+4]) {
			i++
			continue
		}
		y, _ := strconv.Atoi(string(pw[i : i+4]))
		ms = append(ms, match{pattern: "regex", i: i, j: i + 3, guesses: float64(yearSpace(y, year))})
		i += 4
	}
	return ms
}

func isRecentYear(s []rune) bool {
	if !allDigits(s) {
		return false
	}
	return (s[0] == '1' && s[1] == '9') || (s[0] == '2' && s[1] == '0' && (s[2] == '0' || s[2] == '1'))
}

// yearSpace is how many years an attacker tries before y.
func yearSpace(y, year int) int {
	return max(y-year, year-y, minYearSpace)
}

// dateMatches finds dates of 4 to 8 digits (1191, 11111991) and of 6 to 10 characters
// with a separator used twice (1.1.91, 11/11/1991): day, month and year in any order
// with the year first or last, leaving out dates inside longer dates.
func dateMatches(ms []match, pw []rune, year int) []match {
	var found []match
	for i := range pw {
		for j := i + 3; j <= i+7 && j < len(pw); j++ {
			if space, ok := undelimitedDate(pw[i:j+1], year); ok {
				found = append(found, match{pattern: "date", i: i, j: j, guesses: float64(space * 365)})
			}
		}
		for j := i + 5; j <= i+9 && j < len(pw); j++ {
			if y, ok := delimitedDate(pw[i : j+1]); ok {
				// four times the guesses: the separator is one of about four
				found = append(found, match{pattern: "date", i: i, j: j, guesses: float64(yearSpace(y, year) * 365 * 4)})
			}
		}
	}
	for _, m := range found {
		if !insideAnother(m, found) {
			ms = append(ms, m)
		}
	}
	return ms
}

func insideAnother(m match, all []match) bool {
	for _, o := range all {
		if o != m && o.i <= m.i && o.j >= m.j {
			return true
		}
	}
	return false
}

// dateSplits are the places to cut a run of digits, by its length, into day, month and
// year in some order: {k, l} reads s[:k], s[k:l], s[l:].
var dateSplits = map[int][][2]int{
	4: {{1, 2}, {2, 3}},         // 1 1 91, 91 1 1
	5: {{1, 3}, {2, 3}},         // 1 11 91, 11 1 91
	6: {{1, 2}, {2, 4}, {4, 5}}, // 1 1 1991, 11 11 91, 1991 1 1
	7: {{1, 3}, {2, 3}, {4, 5}, {4, 6}},
	8: {{2, 4}, {4, 6}}, // 11 11 1991, 1991 11 11
}

// undelimitedDate reads s, all digits, as a date: of its readings, the one whose year is
// nearest the reference year. It returns that year's yearSpace.
func undelimitedDate(s []rune, year int) (int, bool) {
	if !allDigits(s) {
		return 0, false
	}
	best, found := math.MaxInt, false
	for _, c := range dateSplits[len(s)] {
		if y, ok := readDate(string(s[:c[0]]), string(s[c[0]:c[1]]), string(s[c[1]:])); ok {
			best, found = min(best, yearSpace(y, year)), true
		}
	}
	return best, found
}

// delimitedDate reads s (6 to 10 runes) as up to 4 digits, a separator, 1 or 2 digits,
// the same separator, up to 4 digits. It returns the year.
func delimitedDate(s []rune) (int, bool) {
	a := leadingDigits(s)
	if a < 1 || a > 4 || !isSeparator(s[a]) {
		return 0, false
	}
	rest := s[a+1:]
	b := leadingDigits(rest)
	if b < 1 || b > 2 || b >= len(rest) || rest[b] != s[a] {
		return 0, false
	}
	last := rest[b+1:]
	if len(last) < 1 || len(last) > 4 || !allDigits(last) {
		return 0, false
	}
	return readDate(string(s[:a]), string(rest[:b]), string(last))
}

func isSeparator(r rune) bool {
	return unicode.IsSpace(r) || r == '/' || r == '\\' || r == '_' || r == '.' || r == '-'
}

func leadingDigits(s []rune) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// allDigits tells whether s is all digits; callers never pass an empty s.
func allDigits(s []rune) bool { return leadingDigits(s) == len(s) }

// readDate takes three numbers as a day, month and year in some order, the year first
// or last, and returns the year (two digits read as 1951-2050). Rules out: a middle
// number that is 0 or over 31; a number over 2050, or over 99 and under 1000; all three
// over 12; two zeros; a day and month that do not fit. (zxcvbn also rules out two
// numbers over 31, and tries a four-digit year before the rest: neither changes which
// dates a day and month fit, as a number over 31 is neither.)
func readDate(s1, s2, s3 string) (int, bool) {
	n := [3]int{atoi(s1), atoi(s2), atoi(s3)}
	if n[1] > 31 || n[1] <= 0 {
		return 0, false
	}
	over12, zero := 0, 0
	for _, v := range n {
		if (v > 99 && v < dateMinYear) || v > dateMaxYear {
			return 0, false
		}
		over12 += btoi(v > 12)
		zero += btoi(v <= 0)
	}
	if over12 == 3 || zero >= 2 {
		return 0, false
	}
	if dayMonth(n[0], n[1]) {
		return twoDigitYear(n[2]), true // year last
	}
	if dayMonth(n[1], n[2]) {
		return twoDigitYear(n[0]), true // year first
	}
	return 0, false
}

// dayMonth tells whether a and b are a day and a month, in either order.
func dayMonth(a, b int) bool {
	return (a <= 31 && b <= 12) || (b <= 31 && a <= 12)
}

// twoDigitYear reads 51-99 as 1951-1999 and 0-50 as 2000-2050; larger years are kept.
func twoDigitYear(y int) int {
	if y > 99 {
		return y
	}
	if y > 50 {
		return y + 1900
	}
	return y + 2000
}

func atoi(s string) int {
	v, _ := strconv.Atoi(s)
	return v
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
