package strength

import (
	"fmt"
	"slices"
	"testing"
)

// The rules of each matcher at their edges, where the corpus rarely lands.

func TestReadDate(t *testing.T) {
	for _, tc := range []struct {
		s    [3]string
		year int // 0: not a date
	}{
		{[3]string{"1", "1", "99"}, 1999}, {[3]string{"1", "1", "1000"}, 1000}, {[3]string{"1", "1", "999"}, 0},
		{[3]string{"1", "1", "2050"}, 2050}, {[3]string{"1", "1", "2051"}, 0}, {[3]string{"00", "1", "00"}, 0},
		{[3]string{"0", "1", "91"}, 1991}, {[3]string{"1", "0", "91"}, 0}, {[3]string{"1", "32", "91"}, 0},
		{[3]string{"1", "31", "91"}, 1991}, {[3]string{"13", "13", "13"}, 0}, {[3]string{"12", "13", "13"}, 2013},
		{[3]string{"31", "12", "91"}, 1991}, {[3]string{"12", "31", "91"}, 1991}, {[3]string{"32", "12", "91"}, 0},
		{[3]string{"1991", "12", "31"}, 1991}, {[3]string{"1991", "31", "12"}, 1991}, {[3]string{"1991", "13", "13"}, 0},
		{[3]string{"50", "1", "1"}, 2050}, {[3]string{"51", "1", "1"}, 1951},
	} {
		y, ok := readDate(tc.s[0], tc.s[1], tc.s[2])
		if ok != (tc.year != 0) || (ok && y != tc.year) {
			t.Errorf("readDate%q = %d, %v; want year %d", tc.s, y, ok, tc.year)
		}
	}
	for in, want := range map[int]int{50: 2050, 51: 1951, 99: 1999, 100: 100, 0: 2000} {
		if got := twoDigitYear(in); got != want {
			t.Errorf("twoDigitYear(%d) = %d, want %d", in, got, want)
		}
	}
}

func TestDelimitedDate(t *testing.T) {
	for s, year := range map[string]int{
		"1.1.91": 1991, "11/11/1991": 1991, "1991-1-31": 1991, "12345.1.1": 0, "1.123.91": 0,
		"1.1.19911": 0, "1991.12.": 0, ".1.1991": 0, "1.1-1991": 0, "1 1 1991": 1991, "1\\1\\1991": 1991,
		"1_1_1991": 1991, "1\u00a01\u00a01991": 1991, "1,1,1991": 0, "1a1a1991": 0, "1.1.9a": 0,
	} {
		y, ok := delimitedDate([]rune(s))
		if ok != (year != 0) || (ok && y != year) {
			t.Errorf("delimitedDate(%q) = %d, %v; want year %d", s, y, ok, year)
		}
	}
}

// Dates inside longer dates are left out; the reading nearest the reference year is
// priced.
func TestDateMatches(t *testing.T) {
	for pw, want := range map[string][]match{
		"2015_06_04": {{"date", 0, 9, 20 * 365 * 4}},
		"19911111":   {{"date", 0, 7, 35 * 365}},
		"x111504":    {{"date", 1, 6, 22 * 365}}, // 11-15-04, not 1-1-1504
	} {
		got := dateMatches(nil, []rune(pw), 2026)
		if !slices.Equal(got, want) {
			t.Errorf("dateMatches(%q) = %v, want %v", pw, got, want)
		}
	}
}

func TestYearMatches(t *testing.T) {
	for pw, want := range map[string][]match{
		"1899x1900": {{"regex", 5, 8, 126}},
		"20092010":  {{"regex", 0, 3, 20}, {"regex", 4, 7, 20}},
		"20192020":  {{"regex", 0, 3, 20}},
		"201":       nil,
		"19a9":      nil,
		"1985":      {{"regex", 0, 3, 41}},
	} {
		if got := yearMatches(nil, []rune(pw), 2026); !slices.Equal(got, want) {
			t.Errorf("yearMatches(%q) = %v, want %v", pw, got, want)
		}
	}
}

func TestUppercaseVariations(t *testing.T) {
	for w, want := range map[string]float64{
		"": 1, "abc": 1, "a@b[`{": 1, "Abc": 2, "abC": 2, "ABC": 2, "A": 2, "aAa": 3, "aZa": 3, "aBa": 3,
		"zBz": 3, "AbC": 3, "ABcd": 10, "PASSword": 162,
	} {
		if got := uppercaseVariations([]rune(w)); got != want {
			t.Errorf("uppercaseVariations(%q) = %v, want %v", w, got, want)
		}
	}
}

func TestVariations(t *testing.T) {
	if got := l33tVariations([]rune("p4ss"), map[rune]rune{'4': 'a'}); got != 2 {
		t.Errorf("p4ss: %v l33t variations, want 2", got)
	}
	if got := l33tVariations([]rune("A4a"), map[rune]rune{'4': 'a'}); got != 3 {
		t.Errorf("A4a: %v l33t variations, want 3", got)
	}
	if got := variations(2, 2); got != 10 {
		t.Errorf("variations(2, 2) = %v, want 10", got)
	}
	if nCk(4, 2) != 6 || nCk(5, 0) != 1 || factorial(4) != 24 || factorial(0) != 1 {
		t.Error("nCk or factorial wrong")
	}
	if bruteforceGuesses(1) != 11 || bruteforceGuesses(2) != 100 {
		t.Errorf("brute force of 1 and 2 characters: %v, %v; want 11, 100", bruteforceGuesses(1), bruteforceGuesses(2))
	}
}

func TestSequenceMatches(t *testing.T) {
	for pw, want := range map[string][]match{
		"ab": {{"sequence", 0, 1, 8}}, "ac": nil, "ace": {{"sequence", 0, 2, 12}}, "bdf": {{"sequence", 0, 2, 78}}, "cba": {{"sequence", 0, 2, 156}},
		"bcd": {{"sequence", 0, 2, 78}}, "234": {{"sequence", 0, 2, 30}}, "987": {{"sequence", 0, 2, 24}},
		"agm": nil, "xac": nil, "aa": nil, "a": nil, "": nil, "afk": {{"sequence", 0, 2, 12}}, "xyz1": {{"sequence", 0, 2, 78}},
		"ZYX": {{"sequence", 0, 2, 24}}, "8642": {{"sequence", 0, 3, 80}},
	} {
		if got := sequenceMatches(nil, []rune(pw)); !slices.Equal(got, want) {
			t.Errorf("sequenceMatches(%q) = %v, want %v", pw, got, want)
		}
	}
}

func TestRepeatParts(t *testing.T) {
	for _, tc := range []struct {
		pw              string
		at, long, short int
	}{{"xyzaa", 3, 1, 1}, {"abcd", -1, 0, 0}, {"aabaab", 0, 3, 1}, {"a\na\n", -1, 0, 0}, {"xabab", 1, 2, 2}} {
		at, long, short := firstRepeat([]rune(tc.pw), 0)
		if at != tc.at || long != tc.long || short != tc.short {
			t.Errorf("firstRepeat(%q) = %d, %d, %d; want %d, %d, %d", tc.pw, at, long, short, tc.at, tc.long, tc.short)
		}
	}
	for run, want := range map[string]string{"abab": "ab", "abc": "abc", "aaaa": "a", "abaaba": "aba"} {
		if got := string(shortestPiece([]rune(run))); got != want {
			t.Errorf("shortestPiece(%q) = %q, want %q", run, got, want)
		}
	}
}

func TestWalks(t *testing.T) {
	loadOnce.Do(load)
	qwerty, keypad := graphs[0], graphs[2]
	for _, tc := range []struct {
		pw      string
		g       *graph
		i, j    int
		turns   int
		shifted int
	}{
		{"zaq1", qwerty, 0, 3, 1, 0}, {"pzaq!", qwerty, 1, 4, 1, 1}, {"QWErt", qwerty, 0, 4, 1, 3},
		{"qwerfvcx", qwerty, 0, 7, 3, 0}, {"7896321", keypad, 0, 6, 3, 0},
	} {
		want := []match{{"spatial", tc.i, tc.j, walkGuesses(tc.g, tc.j-tc.i+1, tc.turns, tc.shifted)}}
		if got := walks(nil, []rune(tc.pw), tc.g); !slices.Equal(got, want) {
			t.Errorf("walks(%q, %s) = %v, want %v", tc.pw, tc.g.name, got, want)
		}
	}
	if got := walks(nil, []rune("qw"), qwerty); got != nil {
		t.Errorf("a walk of two keys counted: %v", got)
	}
}

// l33t readings as zxcvbn enumerates them: | is i or l, 7 is l or t, never both at once.
func TestL33tSubs(t *testing.T) {
	var got []string
	for _, s := range l33tSubs([]rune("4|7x")) {
		got = append(got, fmt.Sprint(s))
	}
	slices.Sort(got)
	want := []string{"map[52:97 55:108 124:105]", "map[52:97 55:116 124:105]", "map[52:97 55:116 124:108]"}
	if !slices.Equal(got, want) {
		t.Errorf("readings of 4|7x: %v, want %v", got, want)
	}
	if subs := l33tSubs([]rune("plain")); subs != nil {
		t.Errorf("readings of a text without l33t characters: %v", subs)
	}
}
