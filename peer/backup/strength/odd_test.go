package strength

import (
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
)

// Empty text, invalid UTF-8, control characters and very long text: each gets an
// estimate, and a long one costs no more than its first MaxRunes characters.
func TestOddInput(t *testing.T) {
	if g := Guesses("", nil); g != 1 {
		t.Errorf("empty: %v guesses, want 1", g)
	}
	for _, bad := range []string{"\xff", "pass\xc3word-long-enough", "\xed\xa0\x80abc"} {
		if g := Guesses(bad, nil); g != 0 {
			t.Errorf("invalid UTF-8 %q: %v guesses, want 0 as the reference gives", bad, g)
		}
	}
	for _, odd := range []string{"\x00\x00\x00\x00", "a\tb\rc\vd", "\x7f\x7f\x01 "} {
		if ours, ref := Guesses(odd, nil), zxcvbn.PasswordStrength(odd, nil).Guesses; math.Abs(ours-ref) > 1e-9*ref {
			t.Errorf("%q: %v guesses, the reference %v", odd, ours, ref)
		}
	}
	prefix := strings.Repeat("correct horse battery staple ", 9)[:MaxRunes]
	long := prefix + strings.Repeat("x", 1<<20)
	done := make(chan float64, 1)
	go func() { done <- Guesses(long, nil) }()
	var g float64
	select {
	case g = <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("a 1 MiB password took over 5 s; want its first %d characters' cost", MaxRunes)
	}
	if want := Guesses(prefix, nil); g != want {
		t.Errorf("long text: %v guesses, its first %d characters %v", g, MaxRunes, want)
	}
	if g := Guesses(prefix[:MaxRunes-1]+"é", nil); g == Guesses(prefix[:MaxRunes-1], nil) {
		t.Errorf("the %dth character, multi-byte, was not estimated", MaxRunes)
	}
	if utf8.RuneCountInString(prefix) != MaxRunes {
		t.Fatal("prefix is not MaxRunes long")
	}
}

// No input makes an estimate panic, fall below one guess or rise above brute force of
// the whole text; the same input gets the same estimate.
func FuzzGuesses(f *testing.F) {
	for _, s := range []string{"", "password", "Tr0ub4dour&3", "1.1.91", "abcabc", "qwER43@!", "αβγδ", "\xff", "19911111"} {
		f.Add(s, "kith")
	}
	f.Fuzz(func(t *testing.T, pass, hint string) {
		g := Guesses(pass, []string{hint})
		if !utf8.ValidString(pass) {
			if g != 0 {
				t.Fatalf("invalid UTF-8 %q: %v guesses", pass, g)
			}
			return
		}
		n := min(utf8.RuneCountInString(pass), MaxRunes)
		bound := math.Max(math.Pow(10, float64(n)), 51) + 1
		if n == 0 {
			bound = 1
		}
		if g < 1 || g > bound || math.IsNaN(g) {
			t.Fatalf("%q: %v guesses, want between 1 and %v", pass, g, bound)
		}
		if again := Guesses(pass, []string{hint}); again != g {
			t.Fatalf("%q: %v then %v guesses", pass, g, again)
		}
	})
}
