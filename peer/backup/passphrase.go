package backup

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/kithnet/kith/peer/backup/strength"
)

// Passphrase rule for every new export or key backup, whichever face (CLI or web app)
// asks for it. A backup file travels (USB sticks, cloud drives): whoever gets it can try
// passphrases offline for as long as they like, so scrypt's cost is only a multiplier and
// the passphrase itself must be hard to guess.
const (
	// MinPassphraseLen is the fewest characters (not bytes) a new passphrase may have.
	MinPassphraseLen = 10
	// MinPassphraseGuesses is the fewest guesses the zxcvbn estimate (package strength)
	// must find an attacker needs (zxcvbn's score 4: "very unguessable").
	MinPassphraseGuesses = 1e10
)

// ErrWeakPassphrase is wrapped by CheckPassphrase with the reason.
var ErrWeakPassphrase = errors.New("passphrase too weak")

// CheckPassphrase tells whether pass may protect a new backup, and if not why, in words a
// person can act on. hints are words an attacker would try first (the person's name, their
// ID); they lower the estimate when the passphrase contains them.
func CheckPassphrase(pass []byte, hints ...string) error {
	if n := utf8.RuneCount(pass); n < MinPassphraseLen {
		return fmt.Errorf("%w: %d characters; use at least %d, for example four or five unrelated words",
			ErrWeakPassphrase, n, MinPassphraseLen)
	}
	guesses := strength.Guesses(string(pass), append([]string{"kith", "export", "backup", "passphrase"}, hints...))
	if guesses < MinPassphraseGuesses {
		return fmt.Errorf("%w: it would fall to about %s guesses (%s needed); avoid common words, names, dates and patterns, or add more unrelated words",
			ErrWeakPassphrase, roughly(guesses), roughly(MinPassphraseGuesses))
	}
	return nil
}

// roughly writes a guess count as a power of ten.
func roughly(g float64) string {
	e := 0
	for g >= 10 {
		g /= 10
		e++
	}
	return "10^" + strconv.Itoa(e)
}
