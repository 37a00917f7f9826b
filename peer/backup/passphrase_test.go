package backup

import (
	"errors"
	"strings"
	"testing"
)

// One rule for both faces: too short or too guessable is refused with the reason.
func TestCheckPassphrase(t *testing.T) {
	for _, tc := range []struct {
		pass  string
		hints []string
		why   string // "" when accepted
	}{
		{"x", nil, "1 characters"},
		{"12345678", nil, "8 characters"},
		{"passwordpassword", nil, "guesses"},
		{"qwertyuiop123", nil, "guesses"},
		{"aaaaaaaaaaaaaaaa", nil, "guesses"},
		{"annabelle1990", []string{"annabelle"}, "guesses"},
		{"copper lantern drifts sideways", nil, ""},
		{"correct horse battery", nil, ""},
		{"Tr0ub4dor&3 xyz", nil, ""},
	} {
		err := CheckPassphrase([]byte(tc.pass), tc.hints...)
		switch {
		case tc.why == "" && err != nil:
			t.Errorf("%q refused: %v", tc.pass, err)
		case tc.why != "" && (!errors.Is(err, ErrWeakPassphrase) || !strings.Contains(err.Error(), tc.why)):
			t.Errorf("%q: %v, want ErrWeakPassphrase naming %q", tc.pass, err, tc.why)
		}
	}
}

// Only a link-time setting of a test build lowers the work factor, and never below 10.
func TestWorkFactor(t *testing.T) {
	t.Cleanup(func() { linkedWorkFactor = "" })
	for _, tc := range []struct {
		linked string
		want   int
	}{{"", DefaultWorkFactor}, {"10", 10}, {"9", DefaultWorkFactor}, {"x", DefaultWorkFactor}, {"30", DefaultWorkFactor}} {
		linkedWorkFactor = tc.linked
		if got := WorkFactor(); got != tc.want {
			t.Errorf("linked %q: work factor %d, want %d", tc.linked, got, tc.want)
		}
	}
}

// The length rule at its edge: ten random characters pass (about 10^10 guesses), nine
// are refused for their length; the guess count is written as a power of ten.
func TestCheckPassphraseEdges(t *testing.T) {
	if err := CheckPassphrase([]byte("Kq7#vX2!mZ")); err != nil {
		t.Errorf("ten random characters refused: %v", err)
	}
	if err := CheckPassphrase([]byte("Kq7#vX2!m")); !errors.Is(err, ErrWeakPassphrase) || !strings.Contains(err.Error(), "9 characters") {
		t.Errorf("nine characters: %v, want refused for its length", err)
	}
	for _, tc := range []struct {
		g    float64
		want string
	}{{1, "10^0"}, {9.9, "10^0"}, {10, "10^1"}, {99, "10^1"}, {1e10, "10^10"}} {
		if got := roughly(tc.g); got != tc.want {
			t.Errorf("roughly(%v) = %s, want %s", tc.g, got, tc.want)
		}
	}
}
