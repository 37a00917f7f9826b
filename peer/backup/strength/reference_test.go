package strength

import (
	"math"
	"testing"

	"github.com/trustelem/zxcvbn"
)

// threshold is the bar backup.CheckPassphrase sets.
const threshold = 1e10

// kithHints are the words backup.CheckPassphrase adds to a person's own.
var kithHints = []string{"kith", "export", "backup", "passphrase"}

// Over a varied corpus the accept/reject decision at 10^10 agrees with trustelem/zxcvbn,
// and never accepts what it refuses.
func TestAgreesWithReference(t *testing.T) {
	pws := corpus(t)
	agree, exact, failed := 0, 0, 0
	for _, pw := range pws {
		ours, ref := Guesses(pw, kithHints), zxcvbn.PasswordStrength(pw, kithHints).Guesses
		switch {
		case (ours >= threshold) == (ref >= threshold):
			agree++
		case ref == 0:
			// The reference gives 0 only to invalid UTF-8 by design; on valid text it is
			// its search losing track of multi-byte characters (see TestCraftedAgreeWithReference).
			failed++
			t.Logf("%q: the reference fails (0 guesses); ours %.4g", pw, ours)
		case ours >= threshold:
			t.Errorf("%q: accepted at %.4g guesses, the reference refuses it at %.4g", pw, ours, ref)
		default:
			t.Logf("%q: refused at %.4g guesses, the reference accepts it at %.4g", pw, ours, ref)
		}
		if math.Abs(ours-ref) <= 1e-9*ref {
			exact++
		}
	}
	share := float64(agree) / float64(len(pws))
	t.Logf("%d passwords: decision agrees on %d (%.2f%%), guesses equal on %d (%.2f%%), the reference fails on %d",
		len(pws), agree, 100*share, exact, 100*float64(exact)/float64(len(pws)), failed)
	if share < 0.99 {
		t.Errorf("decision agrees on %.2f%% of %d passwords, want at least 99%%", 100*share, len(pws))
	}
}

// Hand-picked cases, one or more per matcher and per corner of the search, agree with
// the reference to the guess. The reference's known defects are listed apart: there
// ours is lower (so stricter), or the reference has no estimate at all.
func TestCraftedAgreeWithReference(t *testing.T) {
	for _, pw := range []string{
		"", "a", "password", "P@ssw0rd", "p4$$w0rd1", "correcthorsebatterystaple", "Tr0ub4dour&3",
		"qwER43@!", "zxcvbn", "1qaz2wsx", "qwertyuiop[]\\", "~!@#$%^&*()_+", "789456123", "7410.369",
		"=/*-+963", "aoeuidhtns", "aaaaaaaaaa", "abcabcabc", "aabaabaabaab", "abababXabab",
		"abcdefgh", "9876543210", "acegikmo", "ZYXWVU", "13/12/1987", "19910313", "1.1.91", "2015_06_04",
		"1 1 1991", "31121999", "111504", "0000", "2020", "1990", "2019cats", "kith", "Kithexport",
		"ssapdrow", "drowssaP", "h3ll0 w0rld", "AbCdEfGh", "PASSword", "passworD", "PASSWORD",
		"line\nline\n", "\n\n\n\n", "!!!!!!!!!!!!", "Jennifer1990", "smith-jones-1234",
		"copper lantern drifts sideways", "correct horse battery", "Kq7#vX2!mZ", "a1b2c3d4e5",
		"|3ig|3ang", "(0(0nut", "7r0ub|3", "$$$$$$", "12345678901234567890123456789012345",
	} {
		ours, ref := Guesses(pw, kithHints), zxcvbn.PasswordStrength(pw, kithHints).Guesses
		if math.Abs(ours-ref) > 1e-9*ref {
			t.Errorf("%q: %.10g guesses, the reference %.10g", pw, ours, ref)
		}
	}
	for _, tc := range []struct{ pw, why string }{
		// the reference's enumeration of l33t readings loses some (its lists share memory)
		{"in7R!c47e|y1963", "l33t"},
		{"R3|s$uEs2005", "l33t"},
		// the reference mixes byte and character offsets on multi-byte text
		{"ñandúñandú", "repeat of multi-byte text"},
		{"парольпароль", "repeat of multi-byte text"},
		{"ßcaféélève42\u00a0cpY", "no estimate (0) for valid UTF-8"},
	} {
		ours, ref := Guesses(tc.pw, kithHints), zxcvbn.PasswordStrength(tc.pw, kithHints).Guesses
		if ref != 0 && ours >= ref {
			t.Errorf("%q (%s): %.4g guesses, want fewer than the reference's %.4g", tc.pw, tc.why, ours, ref)
		}
	}
}
