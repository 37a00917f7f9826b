package backup

import "strconv"

// DefaultWorkFactor is log2 of scrypt's N for every backup the product writes (age's
// default: about a second here).
const DefaultWorkFactor = 18

// linkedWorkFactor is set only by test builds of the binaries, at link time
// (-ldflags "-X github.com/kithnet/kith/peer/backup.linkedWorkFactor=10"), so that process
// tests do not spend a second per scrypt. No flag, file or environment variable of a
// released binary can lower the cost: an attacker who can set a person's environment must
// not be able to make their backups cheap to crack.
var linkedWorkFactor string

// WorkFactor is the scrypt work factor the binary uses for new backups.
func WorkFactor() int {
	if n, err := strconv.Atoi(linkedWorkFactor); err == nil && n >= 10 && n < DefaultWorkFactor {
		return n
	}
	return DefaultWorkFactor
}
