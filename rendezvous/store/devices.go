package store

import (
	"context"
	"encoding/hex"
	"errors"
	"sort"
	"time"

	"github.com/kithnet/kith/shared/identity"
)

// Devices of one person (issue 16; docs/DESIGN.md "Devices: one person, several keys").
// A person's fingerprint indexes one record per device, each ordered and expiring on
// its own, so two devices registered at once never replace each other; a device's
// newer record replaces only that device's older one.

// MaxDevices bounds the live devices of one person, so that one identity cannot make
// the rendezvous hold an unbounded set (each device costs a certificate signed by the
// identity, which is cheap for its owner).
const MaxDevices = 16

// ErrTooManyDevices means the person already has MaxDevices other live device records.
var ErrTooManyDevices = errors.New("this person already has the most devices a rendezvous keeps (16)")

// DeviceRecord is one device's record of a person.
type DeviceRecord struct {
	// Device is the device id from the certificate.
	Device []byte
	Record
}

// DeviceChannel is the channel a device's offers and Listen sessions travel on: its
// person's fingerprint and its id, so each device's Listen replaces only its own.
func DeviceChannel(fp identity.Fingerprint, device []byte) identity.Fingerprint {
	return fp + "." + identity.Fingerprint(hex.EncodeToString(device))
}

type memDevices map[string]memRecord // device id -> record

// liveDevicesLocked drops fp's expired device records and returns the live ones; m.mu held.
func (m *Memory) liveDevicesLocked(fp identity.Fingerprint, now time.Time) memDevices {
	ds := m.devices[fp]
	for id, r := range ds {
		if !now.Before(r.expires) {
			delete(ds, id)
		}
	}
	if len(ds) == 0 {
		delete(m.devices, fp)
		return nil
	}
	return ds
}

// PutDevice implements Store.
func (m *Memory) PutDevice(ctx context.Context, fp identity.Fingerprint, device []byte, rec Record, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	now := m.now()
	ds := m.liveDevicesLocked(fp, now)
	old, had := ds[string(device)]
	if had && old.rec.TimestampMs >= rec.TimestampMs {
		return ErrNotNewer
	}
	if !had && len(ds) >= MaxDevices {
		return ErrTooManyDevices
	}
	if ds == nil {
		ds = memDevices{}
		m.devices[fp] = ds
	}
	rec.Envelope = append([]byte(nil), rec.Envelope...)
	ds[string(device)] = memRecord{rec: rec, expires: now.Add(ttl)}
	m.write()
	return nil
}

// Devices implements Store.
func (m *Memory) Devices(ctx context.Context, fps []identity.Fingerprint) ([][]DeviceRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	now := m.now()
	out := make([][]DeviceRecord, len(fps))
	for i, fp := range fps {
		for id, r := range m.liveDevicesLocked(fp, now) {
			out[i] = append(out[i], DeviceRecord{Device: []byte(id), Record: Record{
				Envelope: append([]byte(nil), r.rec.Envelope...), TimestampMs: r.rec.TimestampMs,
			}})
		}
		sortDevices(out[i])
	}
	return out, nil
}

// DeleteDevice implements Store.
func (m *Memory) DeleteDevice(ctx context.Context, fp identity.Fingerprint, device []byte, beforeMs int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if r, ok := m.devices[fp][string(device)]; ok && r.rec.TimestampMs < beforeMs {
		delete(m.devices[fp], string(device))
	}
	return nil
}

// sortDevices orders records by device id, so both stores answer alike.
func sortDevices(ds []DeviceRecord) {
	sort.Slice(ds, func(i, j int) bool { return string(ds[i].Device) < string(ds[j].Device) })
}
