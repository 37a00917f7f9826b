package daemon

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/post"
)

// cursor is where a page of posts or replies ends: the creation time and id of its
// last item (timeline: the oldest post shown; thread: the oldest reply shown). Both
// lists are ordered by (time, id), so the next page starts right after it whatever
// came or went meanwhile. Its text form is "MS.HEXID".
type cursor struct {
	ms int64
	id post.ID
}

func (c cursor) String() string { return fmt.Sprintf("%d.%s", c.ms, hex.EncodeToString(c.id[:])) }

// parseCursor reads a cursor's text form; "" is no cursor (nil).
func parseCursor(s string) (*cursor, error) {
	if s == "" {
		return nil, nil
	}
	ms, id, ok := strings.Cut(s, ".")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "before %q is not a page cursor (take next_before of a previous answer)", s)
	}
	pid, err := post.ParseIDString(id)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "before %q is not a page cursor: %v", s, err)
	}
	return &cursor{ms: n, id: pid}, nil
}

// compare orders the cursor against an item by (time, id): above 0 when the item is
// older, so on the page after the cursor (timeline newest first, thread's older
// replies).
func (c cursor) compare(ms int64, id []byte) int {
	return cmp.Or(cmp.Compare(c.ms, ms), bytes.Compare(c.id[:], id))
}
