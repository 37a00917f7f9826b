package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/rendezvous/store"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// Devices of one person (issue 16). A record or proof signed by a device key names the
// device and carries the certificate its person's identity signed for that key; the
// server indexes it by the identity's fingerprint and the device id. The server checks
// the chain so that no key can take a slot under someone else's fingerprint; it does
// not know revocations (friends refuse a revoked device; its record only expires).

// ErrDeviceMismatch means a device id, its certificate and the signing key disagree.
var ErrDeviceMismatch = errors.New("device id, device certificate and signing key do not agree")

// principal is who a verified record or proof speaks for: the person's fingerprint,
// and the device (nil: the identity key itself).
type principal struct {
	fp     identity.Fingerprint
	device []byte
}

// channel is where the principal's offers and Listen sessions travel.
func (p principal) channel() identity.Fingerprint {
	if p.device == nil {
		return p.fp
	}
	return store.DeviceChannel(p.fp, p.device)
}

func (p principal) String() string {
	if p.device == nil {
		return string(p.fp)
	}
	return fmt.Sprintf("%s/%x", p.fp, p.device)
}

// deviceOf checks the device fields of something signer signed at now: none names the
// identity itself; otherwise the certificate must be from an identity for signer and
// this device id, valid now.
func deviceOf(signer identity.PublicKey, devID []byte, cert *signedv1.Envelope, now time.Time) (principal, error) {
	if len(devID) == 0 && cert == nil {
		return principal{fp: signer.Fingerprint()}, nil
	}
	if len(devID) == 0 || cert == nil {
		return principal{}, fmt.Errorf("%w: both a device id and a certificate are needed", ErrDeviceMismatch)
	}
	person, err := signed.Verify(cert, identity.ContextDeviceCertificate, device.MaxRecord)
	if err != nil {
		return principal{}, fmt.Errorf("device certificate: %w", err)
	}
	c, err := device.Check(person, signer, cert, nil, now)
	if err != nil {
		return principal{}, err
	}
	if !bytes.Equal(c.ID, devID) {
		return principal{}, fmt.Errorf("%w: certificate is for device %x, record says %x", ErrDeviceMismatch, c.ID, clip(string(devID)))
	}
	return principal{fp: person.Fingerprint(), device: c.ID}, nil
}

// put stores a verified registration under its principal.
func (s *Server) put(ctx context.Context, p principal, rec store.Record, ttl time.Duration) error {
	if p.device == nil {
		return s.store.Put(ctx, p.fp, rec, ttl)
	}
	return s.store.PutDevice(ctx, p.fp, p.device, rec, ttl)
}

// devices loads the live device records of fp.
func (s *Server) devices(ctx context.Context, fp identity.Fingerprint) ([]store.DeviceRecord, error) {
	all, err := s.store.Devices(ctx, []identity.Fingerprint{fp})
	if err != nil {
		return nil, err
	}
	return all[0], nil
}

// envelopes rebuilds stored device records.
func envelopes(fp identity.Fingerprint, ds []store.DeviceRecord) ([]*signedv1.Envelope, error) {
	out := make([]*signedv1.Envelope, 0, len(ds))
	for _, d := range ds {
		env, err := decodeStored(d.Envelope)
		if err != nil {
			return nil, fmt.Errorf("%s/%x: device record: %w", fp, d.Device, err)
		}
		out = append(out, env)
	}
	return out, nil
}

// newestOf is the most recent of a person's device records, for a client that reads
// only LookupResponse.record.
func newestOf(ds []store.DeviceRecord, envs []*signedv1.Envelope) *signedv1.Envelope {
	var best *signedv1.Envelope
	var ts int64
	for i, d := range ds {
		if best == nil || d.TimestampMs > ts {
			best, ts = envs[i], d.TimestampMs
		}
	}
	return best
}

// registered reports whether p has a live record.
func (s *Server) registered(ctx context.Context, p principal) error {
	if p.device == nil {
		_, err := s.store.Get(ctx, p.fp)
		return err
	}
	ds, err := s.devices(ctx, p.fp)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if bytes.Equal(d.Device, p.device) {
			return nil
		}
	}
	return store.ErrNotFound
}

// deviceRecord returns the stored record of one device of fp.
func (s *Server) deviceRecord(ctx context.Context, fp identity.Fingerprint, dev []byte) (*signedv1.Envelope, error) {
	ds, err := s.devices(ctx, fp)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		if bytes.Equal(d.Device, dev) {
			envs, err := envelopes(fp, []store.DeviceRecord{d})
			if err != nil {
				return nil, err
			}
			return envs[0], nil
		}
	}
	return nil, fmt.Errorf("device %x: %w", clip(string(dev)), store.ErrNotFound)
}
