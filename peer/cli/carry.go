package cli

import (
	"fmt"
	"io"
	"time"

	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// carryJSON is the "carry" object of `kith status --json`: what this node carries,
// sealed, for friends, in sizes only.
type carryJSON struct {
	Enabled          bool             `json:"enabled"`
	QuotaBytes       uint64           `json:"quota_bytes"`
	RetentionSeconds int64            `json:"retention_seconds"`
	OwnParcels       uint32           `json:"own_parcels"`
	OwnBytes         uint64           `json:"own_bytes"`
	Friends          []carriedForJSON `json:"friends"`
}

type carriedForJSON struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Parcels uint32 `json:"parcels"`
	Bytes   uint64 `json:"bytes"`
	Refused uint32 `json:"refused"`
}

func carryJSONOf(c *localv1.CarryStatus) carryJSON {
	j := carryJSON{Enabled: c.GetEnabled(), QuotaBytes: c.GetQuotaBytes(), RetentionSeconds: c.GetRetentionSeconds(),
		OwnParcels: c.GetOwnParcels(), OwnBytes: c.GetOwnBytes(), Friends: []carriedForJSON{}}
	for _, f := range c.GetFriends() {
		j.Friends = append(j.Friends, carriedForJSON{ID: f.GetId(), Name: f.GetName(), Parcels: f.GetParcels(), Bytes: f.GetBytes(), Refused: f.GetRefused()})
	}
	return j
}

// printCarry is the carrying part of `kith status`: for whom, how much, never what.
func printCarry(w io.Writer, c carryJSON) {
	if !c.Enabled {
		fmt.Fprintln(w, "carrying:    off (kith daemon --carry=false)")
	} else {
		fmt.Fprintf(w, "carrying:    up to %s per friend, each kept at most %s\n", humanBytes(c.QuotaBytes), time.Duration(c.RetentionSeconds)*time.Second)
	}
	if c.OwnParcels > 0 {
		fmt.Fprintf(w, "carrying:    my own posts, sealed for carriers: %d (%s)\n", c.OwnParcels, humanBytes(c.OwnBytes))
	}
	for _, f := range c.Friends {
		fmt.Fprintf(w, "carrying:    for %s: %d sealed (%s of %s)", orDash(f.Name), f.Parcels, humanBytes(f.Bytes), humanBytes(c.QuotaBytes))
		if f.Refused > 0 {
			fmt.Fprintf(w, ", %d refused over quota", f.Refused)
		}
		fmt.Fprintln(w)
	}
}
