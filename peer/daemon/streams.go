package daemon

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/transport"
	"github.com/kithnet/kith/shared/identity"
)

// Bounds of concurrent sync calls (issue 13 item 12). gRPC runs every call in its own
// goroutine with its own buffers, and a Watch lives as long as the caller likes, so a
// stranger with one connection could otherwise hold thousands. HTTP/2's own bound
// (maxStreamsPerConn) caps any one connection; the limiter caps callers.
const (
	maxStreamsPerConn     = 64
	friendStreamsPerKey   = 32
	strangerStreamsPerKey = 4
	strangerStreams       = 64 // all strangers together
)

// errTooManyCalls is what a call past the bounds gets: Unavailable, a code callers try
// again after, unlike ResourceExhausted, which a host answers a reply past a
// conversation's bounds with, for good (refusedForGood).
var errTooManyCalls = status.Error(codes.Unavailable, "too many concurrent calls from this peer; retry later")

// callLimiter counts the calls in progress per caller key and for strangers in all.
type callLimiter struct {
	friend func(identity.PublicKey) bool

	mu        sync.Mutex
	byKey     map[identity.PublicKey]int // guards byKey, strangers
	strangers int
}

func newCallLimiter(friend func(identity.PublicKey) bool) *callLimiter {
	return &callLimiter{friend: friend, byKey: map[identity.PublicKey]int{}}
}

// acquire admits one call of the caller of ctx, or refuses it; release ends it.
func (l *callLimiter) acquire(ctx context.Context) (release func(), err error) {
	k, ok := transport.Caller(ctx)
	if !ok {
		return func() {}, nil // the handlers refuse unauthenticated calls themselves
	}
	friend := l.friend(k)
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.byKey[k]
	if friend && n >= friendStreamsPerKey || !friend && (n >= strangerStreamsPerKey || l.strangers >= strangerStreams) {
		return nil, errTooManyCalls
	}
	l.byKey[k]++
	if !friend {
		l.strangers++
	}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.byKey[k]--; l.byKey[k] <= 0 {
			delete(l.byKey, k)
		}
		if !friend {
			l.strangers--
		}
	}, nil
}

func (l *callLimiter) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	release, err := l.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return h(ctx, req)
}

func (l *callLimiter) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	release, err := l.acquire(ss.Context())
	if err != nil {
		return err
	}
	defer release()
	return h(srv, ss)
}

// serverOptions are the sync server's: identity-bound credentials and the bounds above.
func serverOptions(friend func(identity.PublicKey) bool) []grpc.ServerOption {
	l := newCallLimiter(friend)
	return []grpc.ServerOption{
		grpc.Creds(transport.Credentials()),
		grpc.MaxConcurrentStreams(maxStreamsPerConn),
		grpc.ChainUnaryInterceptor(l.unary),
		grpc.ChainStreamInterceptor(l.stream),
	}
}
