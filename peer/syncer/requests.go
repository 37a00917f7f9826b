package syncer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
	"unicode"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// Bounds on friend requests a peer takes from others.
const (
	// MaxRequestPayload bounds a friend request's signed payload.
	MaxRequestPayload = 1024
	// RequestClockWindow is how far a request's time may be from ours.
	RequestClockWindow = 10 * time.Minute
	// RequestsPerMinute bounds the requests taken from everyone together.
	RequestsPerMinute = 20
	// RequestsPerCallerPerMinute bounds the requests taken from one key.
	RequestsPerCallerPerMinute = 2
)

// requestLimiter counts the friend requests taken in the last minute.
type requestLimiter struct {
	mu    sync.Mutex // guards times
	times map[identity.PublicKey][]time.Time
}

// allow records a request from k at now unless the limits are reached. Only taken
// requests are recorded, so the map holds at most RequestsPerMinute keys a minute.
func (l *requestLimiter) allow(k identity.PublicKey, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.times == nil {
		l.times = map[identity.PublicKey][]time.Time{}
	}
	total := 0
	for key, ts := range l.times {
		kept := ts[:0]
		for _, t := range ts {
			if now.Sub(t) < time.Minute {
				kept = append(kept, t)
			}
		}
		if len(kept) == 0 {
			delete(l.times, key)
			continue
		}
		l.times[key] = kept
		total += len(kept)
	}
	if total >= RequestsPerMinute || len(l.times[k]) >= RequestsPerCallerPerMinute {
		return false
	}
	l.times[k] = append(l.times[k], now)
	return true
}

// ParseFriendRequest verifies a friend request addressed to self, signed within
// RequestClockWindow of now, that caller sent: signed by caller itself (v1), or (v2,
// issue 16) by a device of the person it names as from, with that device's certificate,
// where caller is that person (a device's TLS connection authenticates its person) or
// the device itself (an offer it signed through the rendezvous). The device's chain is
// checked with device.Check and the revocations revoked holds for the person (nil: none;
// a stranger's are not known).
func ParseFriendRequest(env *syncv1.RequestFriendshipRequest, caller, self identity.PublicKey, now time.Time, revoked post.Revocations) (store.FriendRequest, error) {
	var r store.FriendRequest
	var fr syncv1.FriendRequest
	e := env.GetRequest()
	if e == nil {
		return r, signed.ErrMissing
	}
	if len(e.GetPayload()) > MaxRequestPayload {
		return r, fmt.Errorf("%w: %d bytes, limit %d", signed.ErrTooLarge, len(e.GetPayload()), MaxRequestPayload)
	}
	from, err := openFriendRequest(e, caller, &fr, revoked)
	if err != nil {
		return r, err
	}
	if string(fr.GetTo()) != string(self[:]) {
		return r, errors.New("the request is addressed to someone else")
	}
	created := time.UnixMilli(fr.GetCreatedUnixMs())
	if d := now.Sub(created); d > RequestClockWindow || d < -RequestClockWindow {
		return r, fmt.Errorf("the request was signed at %s, too far from this node's clock", created.UTC().Format(time.RFC3339))
	}
	if len(fr.GetName()) > 64 {
		return r, errors.New("the name is longer than 64 bytes")
	}
	for _, c := range fr.GetName() {
		if unicode.IsControl(c) {
			return r, errors.New("the name holds control characters")
		}
	}
	if a := fr.GetAddress(); a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil || len(a) > 255 {
			return r, fmt.Errorf("address %q is not HOST:PORT", a)
		}
	}
	return store.FriendRequest{From: from, Name: fr.GetName(), Addr: fr.GetAddress(), Created: created}, nil
}

// openFriendRequest verifies e as ParseFriendRequest says and returns the person it is
// from. The clock window is checked by the caller on the same created time the chain
// is checked at.
func openFriendRequest(e *signedv1.Envelope, caller identity.PublicKey, fr *syncv1.FriendRequest, revoked post.Revocations) (identity.PublicKey, error) {
	if e.GetCertificate() == nil {
		if err := signed.OpenFrom(e, identity.ContextFriendRequest, caller, fr); err != nil {
			return identity.PublicKey{}, err
		}
		return caller, signed.CheckKeyField(caller, fr.GetFrom())
	}
	signer, err := signed.Verify(e, identity.ContextDeviceFriendRequest, MaxRequestPayload)
	if err != nil {
		return identity.PublicKey{}, err
	}
	if err := proto.Unmarshal(e.GetPayload(), fr); err != nil {
		return identity.PublicKey{}, fmt.Errorf("%w: %v", signed.ErrMalformedPayload, err)
	}
	person, err := identity.PublicKeyFromBytes(fr.GetFrom())
	if err != nil {
		return identity.PublicKey{}, fmt.Errorf("from: %w", err)
	}
	if person == signer {
		return identity.PublicKey{}, errors.New("a device's request (v2) signed by the identity itself")
	}
	if caller != person && caller != signer {
		return identity.PublicKey{}, fmt.Errorf("%w: the request is from %s, the sender is %s", signed.ErrWrongSigner, person.Short(), caller.Short())
	}
	var revs []device.Revocation
	if revoked != nil {
		if revs, err = revoked(person); err != nil {
			return identity.PublicKey{}, err
		}
	}
	if _, err := device.Check(person, signer, e.GetCertificate(), revs, time.UnixMilli(fr.GetCreatedUnixMs())); err != nil {
		return identity.PublicKey{}, err
	}
	return person, nil
}

// RequestFriendship takes a signed friend request from the caller. Anyone may send one,
// so it is bounded: a small signed payload, a clock window, RequestsPerMinute in all and
// RequestsPerCallerPerMinute per key, and store.MaxFriendRequests pending.
func (s *Server) RequestFriendship(ctx context.Context, req *syncv1.RequestFriendshipRequest) (*syncv1.RequestFriendshipResponse, error) {
	k, err := s.who(ctx)
	if err != nil {
		return nil, err
	}
	already, err := s.TakeFriendRequest(k, req)
	if err != nil {
		return nil, err
	}
	return &syncv1.RequestFriendshipResponse{AlreadyFriends: already}, nil
}

// TakeFriendRequest checks and keeps a friend request from sent, however it came (a
// connection authenticated as the person from, or an offer signed by from through the
// rendezvous: from is then the key that signed the offer, a device's for a device),
// under RequestFriendship's bounds, which both ways share and count per person. It
// reports whether this node counts the requester as a friend already; errors are gRPC
// statuses.
func (s *Server) TakeFriendRequest(from identity.PublicKey, req *syncv1.RequestFriendshipRequest) (bool, error) {
	self, err := s.st.Self()
	if err != nil {
		return false, toStatus(err)
	}
	r, err := ParseFriendRequest(req, from, self, s.now(), s.st.Revocations)
	if err != nil {
		return false, status.Errorf(codes.InvalidArgument, "friend request: %v", err)
	}
	if !s.requests.allow(r.From, s.now()) {
		return false, status.Error(codes.ResourceExhausted, "too many friend requests now; try again in a minute")
	}
	already, err := s.st.PutFriendRequest(r)
	if errors.Is(err, store.ErrTooManyRequests) {
		return false, status.Error(codes.ResourceExhausted, err.Error())
	}
	if err != nil {
		return false, toStatus(err)
	}
	return already, nil
}

// SignFriendRequest signs the request self sends to the person whose key is to.
func SignFriendRequest(self *identity.Key, to identity.PublicKey, name, addr string, now time.Time) (*syncv1.RequestFriendshipRequest, error) {
	return SignFriendRequestAs(self, self.Public(), nil, to, name, addr, now)
}

// SignFriendRequestAs signs the request person sends to to with key: person's identity
// (v1), or a device key of person's whose certificate is cert (v2, issue 16).
func SignFriendRequestAs(key *identity.Key, person identity.PublicKey, cert *signedv1.Envelope, to identity.PublicKey, name, addr string, now time.Time) (*syncv1.RequestFriendshipRequest, error) {
	fr := &syncv1.FriendRequest{From: person.Bytes(), To: to.Bytes(), CreatedUnixMs: now.UnixMilli(), Name: name, Address: addr}
	ctx := identity.ContextFriendRequest
	if key.Public() != person {
		ctx = identity.ContextDeviceFriendRequest
	}
	env, err := signed.Seal(key, ctx, fr)
	if err != nil {
		return nil, err
	}
	if key.Public() != person {
		env.Certificate = cert
	}
	return &syncv1.RequestFriendshipRequest{Request: env}, nil
}
