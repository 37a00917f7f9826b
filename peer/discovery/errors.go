package discovery

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// retryable reports whether another server might answer where this one failed: it was
// unreachable or overloaded, not that it refused the request on its merits. NotFound is
// retryable too: servers on different stores may know different peers.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted,
		codes.Internal, codes.Unknown, codes.NotFound, codes.FailedPrecondition:
		return true
	}
	return false
}
