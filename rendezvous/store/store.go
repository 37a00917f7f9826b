// Package store keeps the rendezvous's shared state: signed registrations with expiry,
// offer delivery to listening peers, one-time nonces and rate-limit counters. Memory
// (one instance) and Redis (any number of instances) implement one Store interface and
// pass one behavioural suite.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/kithnet/kith/shared/identity"
)

// Errors a caller may test for with errors.Is. Any other error from a Store means the
// store itself could not be reached or failed.
var (
	// ErrNotFound means there is no live record for the fingerprint.
	ErrNotFound = errors.New("no record for this fingerprint (never registered, unregistered or expired)")
	// ErrNotNewer means a record is no newer than the stored one: a replay or a reordering.
	ErrNotNewer = errors.New("record is not newer than the stored one")
	// ErrNoListener means nobody is listening for offers to the fingerprint.
	ErrNoListener = errors.New("target is not listening for offers")
	// ErrClosed means the store has been closed.
	ErrClosed = errors.New("store closed")
)

// Record is one stored registration: what the server keeps of the signed envelope
// (opaque here; rendezvous/server's stored.go, v3: signature and payload, from which
// the envelope is rebuilt exactly), and the timestamp taken from its verified payload,
// which orders records.
type Record struct {
	// Envelope is the server's stored form of the signed envelope, returned byte for byte.
	Envelope []byte
	// TimestampMs is the registration's timestamp_unix_ms.
	TimestampMs int64
}

// Store is what the rendezvous needs from its state. Every method honours ctx.
type Store interface {
	// Put stores rec under fp for ttl, unless the stored record is at least as new,
	// in which case it returns ErrNotNewer and changes nothing.
	Put(ctx context.Context, fp identity.Fingerprint, rec Record, ttl time.Duration) error
	// Get returns the live record of fp, or ErrNotFound.
	Get(ctx context.Context, fp identity.Fingerprint) (Record, error)
	// GetMany returns the live records of fps, in their order; a fingerprint with no
	// live record gets a Record with a nil Envelope. On Redis it costs one round trip
	// per node.
	GetMany(ctx context.Context, fps []identity.Fingerprint) ([]Record, error)
	// Delete removes fp's record if its timestamp is older than beforeMs, so a late
	// unregister cannot remove a newer registration. Absent records are not an error.
	Delete(ctx context.Context, fp identity.Fingerprint, beforeMs int64) error
	// Publish delivers msg to every current subscriber of fp, on any instance, and
	// returns ErrNoListener when there is none.
	Publish(ctx context.Context, fp identity.Fingerprint, msg []byte) error
	// Subscribe starts receiving what is published to fp. The subscription ends when
	// ctx ends or Close is called.
	Subscribe(ctx context.Context, fp identity.Fingerprint) (Subscription, error)
	// Claim records key as used for ttl and reports whether it was fresh: false means
	// it was claimed before (a replayed nonce).
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Allow counts one event against key in the current window and reports whether the
	// count is still within limit.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, error)
	// AllowKey is Allow for the signed requests of one key. On Redis its counter
	// shares the key's record's Redis key, so a registered peer costs one key.
	AllowKey(ctx context.Context, fp identity.Fingerprint, limit int, window time.Duration) (bool, error)
	// AllowN is Allow counting n events at once.
	AllowN(ctx context.Context, key string, n, limit int, window time.Duration) (bool, error)
	// PutDevice stores rec as the record of one device of the person fp for ttl, unless
	// that device's live record is at least as new (ErrNotNewer) or fp already has
	// MaxDevices other live devices (ErrTooManyDevices). Devices never replace each other.
	PutDevice(ctx context.Context, fp identity.Fingerprint, device []byte, rec Record, ttl time.Duration) error
	// Devices returns, for each of fps in order, its live device records ordered by
	// device id (none: nil). On Redis it costs one round trip per node.
	Devices(ctx context.Context, fps []identity.Fingerprint) ([][]DeviceRecord, error)
	// DeleteDevice removes one device's record if it is older than beforeMs.
	DeleteDevice(ctx context.Context, fp identity.Fingerprint, device []byte, beforeMs int64) error
	// Close releases the store's connections.
	Close() error
}

// Subscription receives messages published to one fingerprint.
type Subscription interface {
	// Messages yields published messages; it is closed when the subscription ends.
	Messages() <-chan []byte
	// Close ends the subscription and waits for its goroutines.
	Close() error
}
