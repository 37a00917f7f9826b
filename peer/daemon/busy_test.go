package daemon

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/store"
)

// TestBusyIsNotARefusal: a host busy with our other calls (errTooManyCalls) has not
// refused a reply or reaction, which stays in the outbox for the next sync; a host's
// refusal for good (a full conversation, a post gone) takes it out.
func TestBusyIsNotARefusal(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		good bool
	}{
		{"too many calls", errTooManyCalls, false},
		{"connection lost", status.Error(codes.Unavailable, "connection closed"), false},
		{"deadline", status.Error(codes.DeadlineExceeded, "deadline exceeded"), false},
		{"conversation full", status.Error(codes.ResourceExhausted, store.ErrConversationFull.Error()), true},
		{"post gone", status.Error(codes.NotFound, store.ErrNoSuchPost.Error()), true},
	} {
		if got := refusedForGood(c.err); got != c.good {
			t.Errorf("%s: refusedForGood(%v) = %v, want %v", c.name, c.err, got, c.good)
		}
	}
}
