package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/rendezvous/store"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// Errors the service returns inside its statuses; each names one way a request is wrong.
var (
	// ErrStaleTimestamp means a signed timestamp lies outside the server's clock window.
	ErrStaleTimestamp = errors.New("timestamp outside the server's clock window (check the peer's clock)")
	// ErrTooManyCandidates means a record lists more candidates than allowed.
	ErrTooManyCandidates = errors.New("too many candidates")
	// ErrBadCandidate means a candidate is not a valid ip:port.
	ErrBadCandidate = errors.New("candidate is not a valid ip:port")
	// ErrBadNonce means a nonce is not 16 bytes.
	ErrBadNonce = errors.New("nonce must be 16 bytes")
	// ErrReplayedNonce means a signed proof or offer was already used.
	ErrReplayedNonce = errors.New("nonce already used: a replayed request")
	// ErrTargetMismatch means the offer is signed for a different target than the request names.
	ErrTargetMismatch = errors.New("offer's target_fingerprint differs from the request's")
	// ErrBadVersion means a record is not of the version this server speaks.
	ErrBadVersion = errors.New("record version not supported")
	// ErrWrongServer means a signed proof was made for another rendezvous server.
	ErrWrongServer = errors.New("signed for another rendezvous server")
	// ErrNotRegistered means a call needs the caller registered first.
	ErrNotRegistered = errors.New("caller is not registered here: Register first")
	// ErrTURNDisabled means the rendezvous has no TURN secret configured.
	ErrTURNDisabled = errors.New("TURN is not configured on this rendezvous (no --turn-secret)")
	// ErrRateLimited means a caller exceeded its request budget.
	ErrRateLimited = errors.New("rate limit exceeded: slow down and retry later")
	// ErrTooManyListens means one client IP holds as many Listen streams as allowed.
	ErrTooManyListens = errors.New("too many Listen streams from this address: close one first")
	// ErrReplaced means a newer Listen for the same fingerprint took over this stream.
	ErrReplaced = errors.New("replaced by a newer Listen for the same fingerprint and device")
	// ErrShuttingDown means the instance is draining; reconnect (to another instance).
	ErrShuttingDown = errors.New("rendezvous is shutting down: reconnect")
)

// kinds maps each known error to its status code and the refusal reason metrics count.
var kinds = []struct {
	err    error
	code   codes.Code
	reason string
}{
	{identity.ErrBadSignature, codes.Unauthenticated, "bad_signature"},
	{signed.ErrWrongSigner, codes.PermissionDenied, "key_mismatch"},
	{identity.ErrMalformedKey, codes.InvalidArgument, "malformed_key"},
	{identity.ErrMalformedFingerprint, codes.InvalidArgument, "malformed_fingerprint"},
	{signed.ErrMissing, codes.InvalidArgument, "missing_record"},
	{signed.ErrTooLarge, codes.InvalidArgument, "too_large"},
	{signed.ErrMalformedPayload, codes.InvalidArgument, "malformed_payload"},
	{ErrStaleTimestamp, codes.InvalidArgument, "stale_timestamp"},
	{ErrTooManyCandidates, codes.InvalidArgument, "too_many_candidates"},
	{ErrBadCandidate, codes.InvalidArgument, "bad_candidate"},
	{ErrBadNonce, codes.InvalidArgument, "bad_nonce"},
	{ErrTargetMismatch, codes.InvalidArgument, "target_mismatch"},
	{ErrBadVersion, codes.InvalidArgument, "bad_version"},
	{ErrWrongServer, codes.InvalidArgument, "wrong_server"},
	{ErrTooManyFingerprints, codes.InvalidArgument, "too_many_fingerprints"},
	{ErrDuplicateFingerprint, codes.InvalidArgument, "duplicate_fingerprint"},
	{store.ErrNotNewer, codes.AlreadyExists, "replay"},
	{ErrDeviceMismatch, codes.PermissionDenied, "device_mismatch"},
	{device.ErrNotCertified, codes.PermissionDenied, "device_not_certified"},
	{device.ErrNotValidYet, codes.PermissionDenied, "device_certificate_time"},
	{device.ErrExpired, codes.PermissionDenied, "device_certificate_time"},
	{device.ErrBadID, codes.InvalidArgument, "device_id"},
	{device.ErrBadValidity, codes.InvalidArgument, "device_certificate_validity"},
	{store.ErrTooManyDevices, codes.ResourceExhausted, "too_many_devices"},
	{ErrReplayedNonce, codes.AlreadyExists, "replayed_nonce"},
	{ErrStoredRecord, codes.Internal, "stored_record"},
	{store.ErrNotFound, codes.NotFound, "not_found"},
	{ErrNotRegistered, codes.FailedPrecondition, "not_registered"},
	{store.ErrNoListener, codes.FailedPrecondition, "not_listening"},
	{ErrTURNDisabled, codes.FailedPrecondition, "turn_disabled"},
	{ErrRateLimited, codes.ResourceExhausted, "rate_limited"},
	{ErrTooManyListens, codes.ResourceExhausted, "listens_per_ip"},
	{ErrReplaced, codes.Aborted, ""},
	{ErrShuttingDown, codes.Unavailable, ""},
	{context.Canceled, codes.Canceled, ""},
	{context.DeadlineExceeded, codes.DeadlineExceeded, ""},
}

// Status turns an error from the service into the gRPC status that crosses the wire, and
// names the refusal reason ("" when it is no refusal). Errors it does not know come from
// the store failing, which callers should retry: Unavailable.
func Status(err error) (*status.Status, string) {
	if err == nil {
		return status.New(codes.OK, ""), ""
	}
	if s, ok := status.FromError(err); ok {
		return s, ""
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return status.New(k.code, err.Error()), k.reason
		}
	}
	return status.New(codes.Unavailable, "store unavailable, retry: "+err.Error()), "store_unavailable"
}
