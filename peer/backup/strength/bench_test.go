package strength

import (
	"sync"
	"testing"

	"github.com/trustelem/zxcvbn"
)

var benchPasswords = []string{"Tr0ub4dour&3", "copper lantern drifts sideways", "correcthorsebatterystaple",
	"qwER43@!1990", "Kq7#vX2!mZ", "annabelle1990", "p4$$w0rd-s3cr3t-2024"}

// One estimate, ours beside the reference's, per call (the reference's dictionaries were
// built at init; ours on the first call, outside the timing). "ours-first" builds ours
// anew on every call: what the first CheckPassphrase of a process costs.
func BenchmarkGuesses(b *testing.B) {
	b.Run("ours", func(b *testing.B) {
		Guesses("warm", nil)
		for i := 0; b.Loop(); i++ {
			Guesses(benchPasswords[i%len(benchPasswords)], kithHints)
		}
	})
	b.Run("reference", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			zxcvbn.PasswordStrength(benchPasswords[i%len(benchPasswords)], kithHints)
		}
	})
	b.Run("ours-first", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			loadOnce = sync.Once{}
			Guesses(benchPasswords[i%len(benchPasswords)], kithHints)
		}
	})
}
