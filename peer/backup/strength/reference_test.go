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
