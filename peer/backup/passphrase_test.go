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
