package discovery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// Devices (issue 16; docs/DESIGN.md "Devices: one person, several keys"): a person's
// lookup carries one record per device. A friend takes a device record only if the
// device key signed it, the record names that key, its device id and certificate agree,
// and the certificate chains to the person it looked up, valid now and not revoked.

// DeviceRecord is a verified registration of one of a person's devices.
type DeviceRecord struct {
	// Registration is the record's payload, signed by Cert.Key.
	Registration *rendezvousv1.Registration
	// Cert is the device's verified certificate.
	Cert device.Certificate
}

// VerifyDeviceRecords keeps the records of envs that are person's devices' at now,
// given person's verified revocations; one record per device id (the newest). A record
// that does not verify is left out and reported in the joined error, so one bad or
// revoked device never hides the others.
func VerifyDeviceRecords(envs []*signedv1.Envelope, person identity.PublicKey, revoked []device.Revocation, now time.Time) ([]DeviceRecord, error) {
	var out []DeviceRecord
	var errs []error
	for i, env := range envs {
		r, err := verifyDeviceRecord(env, person, revoked, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("device record %d: %w", i, err))
			continue
		}
		dup := false
		for j := range out {
			if bytes.Equal(out[j].Cert.ID, r.Cert.ID) {
				dup = true
				if r.Registration.GetTimestampUnixMs() > out[j].Registration.GetTimestampUnixMs() {
					out[j] = r
				}
			}
		}
		if !dup {
			out = append(out, r)
		}
	}
	return out, errors.Join(errs...)
}

func verifyDeviceRecord(env *signedv1.Envelope, person identity.PublicKey, revoked []device.Revocation, now time.Time) (DeviceRecord, error) {
	var reg rendezvousv1.Registration
	signer, err := signed.Open(env, identity.ContextRegistration, &reg)
	if err != nil {
		return DeviceRecord{}, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	if err := signed.CheckKeyField(signer, reg.GetPublicKey()); err != nil {
		return DeviceRecord{}, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	if signer == person || reg.GetDeviceCertificate() == nil {
		return DeviceRecord{}, fmt.Errorf("%w: not a device record", ErrBadRecord)
	}
	c, err := device.Check(person, signer, reg.GetDeviceCertificate(), revoked, now)
	if err != nil {
		return DeviceRecord{}, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	if !bytes.Equal(c.ID, reg.GetDeviceId()) {
		return DeviceRecord{}, fmt.Errorf("%w: record names device %x, its certificate %x", ErrBadRecord, reg.GetDeviceId(), c.ID)
	}
	return DeviceRecord{Registration: &reg, Cert: c}, nil
}

// LookupDevices fetches person's device records and keeps those that verify
// (VerifyDeviceRecords); the error is non-nil only when no server answered.
func (c *Client) LookupDevices(ctx context.Context, person identity.PublicKey, revoked []device.Revocation) ([]DeviceRecord, error) {
	var out []DeviceRecord
	err := c.onAnyServer(ctx, func(ctx context.Context, cl rendezvousv1.RendezvousServiceClient, _ string) error {
		resp, err := cl.Lookup(ctx, &rendezvousv1.LookupRequest{Fingerprint: string(person.Fingerprint())})
		if err != nil {
			return err
		}
		var bad error
		out, bad = VerifyDeviceRecords(resp.GetDevices(), person, revoked, c.cfg.Now())
		if bad != nil {
			c.cfg.Logger.Info("left out device records that do not verify", "person", person.ID(), "err", bad)
		}
		return nil
	})
	return out, err
}

// deviceConfig checks a device's config and returns whom the client speaks for.
func deviceConfig(cfg Config) (identity.PublicKey, error) {
	if cfg.DeviceCertificate == nil && len(cfg.DeviceID) == 0 {
		return cfg.Key.Public(), nil
	}
	person, err := identity.PublicKeyFromBytes(cfg.DeviceCertificate.GetSigner())
	if err != nil {
		return person, fmt.Errorf("discovery: Config.DeviceCertificate: %w", err)
	}
	c, err := device.Check(person, cfg.Key.Public(), cfg.DeviceCertificate, nil, cfg.Now())
	if err != nil {
		return person, fmt.Errorf("discovery: Config.DeviceCertificate: %w", err)
	}
	if !bytes.Equal(c.ID, cfg.DeviceID) {
		return person, fmt.Errorf("discovery: Config.DeviceID %x is not the certificate's %x", cfg.DeviceID, c.ID)
	}
	return person, nil
}

// offer starts an offer of ours: a device's names itself and carries its certificate.
func (c *Client) offer(kind rendezvousv1.OfferKind, cands []*rendezvousv1.Candidate, secret []byte) *rendezvousv1.Offer {
	o := &rendezvousv1.Offer{Candidates: cands, Kind: kind, PunchSecret: secret,
		DeviceId: c.cfg.DeviceID, DeviceCertificate: c.cfg.DeviceCertificate}
	if c.cfg.Mapping != nil {
		o.Mapping = c.cfg.Mapping()
	}
	return o
}

// callerPerson is whom an offer's signer speaks for: itself, or the person whose
// certificate for it the offer carries (valid now; revocations are the handshake's).
func callerPerson(from identity.PublicKey, o *rendezvousv1.Offer, now time.Time) (identity.PublicKey, error) {
	cert := o.GetDeviceCertificate()
	if cert == nil {
		return from, nil
	}
	person, err := identity.PublicKeyFromBytes(cert.GetSigner())
	if err != nil {
		return from, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	c, err := device.Check(person, from, cert, nil, now)
	if err != nil {
		return from, fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	if !bytes.Equal(c.ID, o.GetDeviceId()) {
		return from, fmt.Errorf("%w: offer names device %x, its certificate %x", ErrBadOffer, o.GetDeviceId(), c.ID)
	}
	return person, nil
}

// ConnectDevice sends an offer to one device of person (a record LookupDevices kept):
// sealed to the device's key, routed by the rendezvous to that device alone. It
// returns the device's record as the rendezvous has it now, verified.
func (c *Client) ConnectDevice(ctx context.Context, person identity.PublicKey, d DeviceRecord, kind rendezvousv1.OfferKind, cands []*rendezvousv1.Candidate, secret []byte) (DeviceRecord, error) {
	so, err := sealOfferTo(c.cfg.Key, d.Cert.Key, person.Fingerprint(), c.offer(kind, cands, secret), c.cfg.Now())
	if err != nil {
		return DeviceRecord{}, err
	}
	so.TargetDeviceId = d.Cert.ID
	var out DeviceRecord
	err = c.onAnyServer(ctx, func(ctx context.Context, cl rendezvousv1.RendezvousServiceClient, _ string) error {
		resp, err := cl.Connect(ctx, &rendezvousv1.ConnectRequest{TargetFingerprint: string(person.Fingerprint()), Offer: so})
		if err != nil {
			return err
		}
		out, err = verifyDeviceRecord(resp.GetRecord(), person, nil, c.cfg.Now())
		if err == nil && !bytes.Equal(out.Cert.ID, d.Cert.ID) {
			err = fmt.Errorf("%w: the rendezvous answered for another device", ErrBadRecord)
		}
		return err
	})
	return out, err
}
