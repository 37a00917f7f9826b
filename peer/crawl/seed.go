package crawl

import (
	"fmt"
	"strings"

	"github.com/kithnet/kith/peer/profile"
)

// ParseSeeds parses a crawl's seeds: IDs separated by commas, each either ID (its
// address comes from the index or the Dialer, e.g. a rendezvous lookup) or
// ID@HOST:PORT (direct mode: dial that address).
func ParseSeeds(s string) ([]profile.Follow, error) {
	var out []profile.Follow
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		f, err := profile.ParseFollow(part)
		if err != nil {
			return nil, fmt.Errorf("seed: %w", err)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("seed: no seeds given; want ID[@HOST:PORT][,ID[@HOST:PORT]...]")
	}
	return out, nil
}
