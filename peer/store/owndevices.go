package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/post"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// The person's own devices (issue 16; docs/DESIGN.md "Devices: one person, several
// keys"). A home either holds the identity key (meta "seed" or "seedenc") or runs as a
// joined device: meta "pub" names the person, "devseed" is the device's own key and
// "devcert" the certificate the identity issued for it. Every home keeps the device
// list in bucket "devices" (made on first write, so older homes need no schema step).

// bDevices maps device key(32) -> JSON ownDevice.
var bDevices = []byte("devices")

var (
	metaDevSeed = []byte("devseed")
	metaDevCert = []byte("devcert")
)

// MaxDevices bounds the devices one person keeps in the list (revoked ones included).
const MaxDevices = 64

// Errors a caller may test for with errors.Is.
var (
	// ErrNeedIdentity means an operation needs the identity key and this home is a
	// device that holds only its own key (adding or revoking devices, for one).
	ErrNeedIdentity = errors.New("this device does not hold the identity key; run it on the device that does (the first one, made by `kith init`)")
	// ErrDeviceExists means a device of that name is in the list already.
	ErrDeviceExists = errors.New("a device of that name exists already")
	// ErrThisDevice means the device named is the one this home runs as.
	ErrThisDevice = errors.New("that is the device you are on; remove it from another device")
	// ErrTooManyDevices means the list holds MaxDevices devices already.
	ErrTooManyDevices = errors.New("too many devices for one person")
)

// Device is one of the person's devices as the list keeps it.
type Device struct {
	// Key is the device's key (the identity key for the device that holds it).
	Key identity.PublicKey `json:"-"`
	// Name is the name it was added with.
	Name string `json:"name"`
	// Certificate is the device certificate (nil for the identity holder).
	Certificate []byte `json:"cert,omitempty"`
	// LastSeen is when this home last heard from it (zero: never).
	LastSeen time.Time `json:"last_seen,omitempty"`
	// Revoked is set once the device was removed.
	Revoked bool `json:"revoked,omitempty"`
	// Addr is the host:port it was last reached at, or reached this home from.
	Addr string `json:"addr,omitempty"`
}

// CertificateEnvelope returns the device's certificate envelope, nil for the identity.
func (d Device) CertificateEnvelope() (*signedv1.Envelope, error) {
	if d.Certificate == nil {
		return nil, nil
	}
	env := &signedv1.Envelope{}
	if err := proto.Unmarshal(d.Certificate, env); err != nil {
		return nil, fmt.Errorf("device %q certificate: %w", d.Name, err)
	}
	return env, nil
}

// Signer is the key this home signs with and the certificate that makes it the
// person's: the identity key and a nil certificate on the identity's home, the device
// key and its certificate on a joined device.
type Signer struct {
	// Key signs.
	Key *identity.Key
	// Person is the identity the key stands for.
	Person identity.PublicKey
	// Certificate is Key's device certificate, nil when Key is the identity.
	Certificate *signedv1.Envelope
}

// Seal signs a post draft as the person.
func (g Signer) Seal(d post.Draft) (*signedv1.Envelope, *postv1.Payload, error) {
	return post.SealDevice(g.Key, g.Person, g.Certificate, d)
}

// DeviceID is the signing device's id, nil for the identity key.
func (g Signer) DeviceID() ([]byte, error) {
	if g.Certificate == nil {
		return nil, nil
	}
	c, err := device.Open(g.Certificate, g.Person)
	if err != nil {
		return nil, err
	}
	return c.ID, nil
}

// Signer returns what this home signs with: the identity key when it holds it (even
// locked: ErrKeyLocked), else its device key and certificate.
func (s *Store) Signer() (Signer, error) {
	k, err := s.Key()
	if err == nil {
		return Signer{Key: k, Person: k.Public()}, nil
	}
	if !errors.Is(err, ErrNoIdentity) {
		return Signer{}, err
	}
	dk, err := s.deviceKey()
	if err != nil {
		return Signer{}, err
	}
	env, _, err := s.deviceCertificate()
	if err != nil {
		return Signer{}, err
	}
	if _, err := device.Check(s.self, dk.Public(), env, nil, s.now()); err != nil {
		return Signer{}, fmt.Errorf("this device's certificate: %w", err)
	}
	return Signer{Key: dk, Person: s.self, Certificate: env}, nil
}

// IsDevice reports whether this home runs as a joined device (no identity key).
func (s *Store) IsDevice() bool {
	var dev bool
	_ = s.db.View(func(tx *bolt.Tx) error {
		dev = isDeviceMeta(tx.Bucket(bMeta))
		return nil
	})
	return dev
}

// SigningKey is the public key this home signs with (the identity's or the device's),
// readable without unlocking the identity.
func (s *Store) SigningKey() (identity.PublicKey, error) {
	dk, err := s.deviceKey()
	switch {
	case err == nil:
		return dk.Public(), nil
	case errors.Is(err, ErrKeyLocked):
		// Encrypted at rest: the certificate names the key.
		_, c, err := s.deviceCertificate()
		return c.Key, err
	case errors.Is(err, ErrNoIdentity):
		return s.Self()
	}
	return identity.PublicKey{}, err
}

// AddDevice certifies the device key dev under name with the identity key and keeps it
// in the list. It returns the certificate.
func (s *Store) AddDevice(name string, dev identity.PublicKey, devID []byte, validity time.Duration) (*signedv1.Envelope, error) {
	k, err := s.Key()
	if errors.Is(err, ErrNoIdentity) && s.IsDevice() {
		return nil, ErrNeedIdentity
	}
	if err != nil {
		return nil, err
	}
	if dev == k.Public() {
		return nil, fmt.Errorf("add device %q: %w: it is the identity key", name, ErrDeviceExists)
	}
	cert, err := device.Issue(k, dev, devID, s.now(), validity)
	if err != nil {
		return nil, err
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(cert)
	if err != nil {
		return nil, err
	}
	err = s.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bDevices)
		if err != nil {
			return err
		}
		if err := s.ensureSelfDeviceLocked(tx, b); err != nil {
			return err
		}
		if b.Get(dev[:]) != nil {
			return fmt.Errorf("add device %q: %w", name, ErrDeviceExists)
		}
		if _, ok := deviceNamed(b, name); ok {
			return fmt.Errorf("add device %q: %w", name, ErrDeviceExists)
		}
		if b.Stats().KeyN >= MaxDevices {
			return fmt.Errorf("add device %q: %w", name, ErrTooManyDevices)
		}
		if err := putDevice(b, Device{Key: dev, Name: name, Certificate: raw, LastSeen: s.now()}); err != nil {
			return err
		}
		return s.touchKitLocked(tx) // the recovery kit lists devices
	})
	if err != nil {
		return nil, err
	}
	return cert, nil
}

// ensureSelfDeviceLocked lists the identity holder itself, under the profile name
// plus " (identity)" when it is not listed yet: the list then always shows where the
// identity key lives.
func (s *Store) ensureSelfDeviceLocked(tx *bolt.Tx, b *bolt.Bucket) error {
	if !s.hasSelf || b.Get(s.self[:]) != nil || isDeviceMeta(tx.Bucket(bMeta)) {
		return nil
	}
	return putDevice(b, Device{Key: s.self, Name: "first"})
}

// deviceNamed finds the device called name in the list.
func deviceNamed(b *bolt.Bucket, name string) (Device, bool) {
	var found Device
	ok := false
	_ = b.ForEach(func(k, v []byte) error {
		d, err := decodeDevice(k, v)
		if err == nil && d.Name == name {
			found, ok = d, true
		}
		return nil
	})
	return found, ok
}

func putDevice(b *bolt.Bucket, d Device) error {
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return b.Put(d.Key[:], v)
}

func decodeDevice(k, v []byte) (Device, error) {
	var d Device
	if err := json.Unmarshal(v, &d); err != nil {
		return d, fmt.Errorf("device %x: %w: %v", k, ErrCorrupt, err)
	}
	key, err := identity.PublicKeyFromBytes(k)
	if err != nil {
		return d, fmt.Errorf("device %x: %w: %v", k, ErrCorrupt, err)
	}
	d.Key = key
	return d, nil
}

// Devices lists the person's devices, this one first, then by name.
func (s *Store) Devices() ([]Device, error) {
	me, err := s.SigningKey()
	if err != nil {
		return nil, err
	}
	var out []Device
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bDevices)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			d, err := decodeDevice(k, v)
			if err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if !containsKey(out, me) {
		out = append(out, Device{Key: me, Name: "first"})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if (out[i].Key == me) != (out[j].Key == me) {
			return out[i].Key == me
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func containsKey(ds []Device, k identity.PublicKey) bool {
	for _, d := range ds {
		if d.Key == k {
			return true
		}
	}
	return false
}

// SeenDevice notes that device key k of this person was heard from at at. A key not
// in the list (a device this home has not learned of yet) is left alone.
func (s *Store) SeenDevice(k identity.PublicKey, at time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bDevices)
		if b == nil {
			return nil
		}
		v := b.Get(k[:])
		if v == nil {
			return nil
		}
		d, err := decodeDevice(k[:], v)
		if err != nil || !at.After(d.LastSeen) {
			return err
		}
		d.LastSeen = at
		return putDevice(b, d)
	})
}

// RevokeDevice revokes the device called name with the identity key: the revocation
// is kept (and handed to friends by GetDevices) and the device is marked removed. It
// refuses the device this home runs as.
func (s *Store) RevokeDevice(name string) (*signedv1.Envelope, error) {
	me, err := s.SigningKey()
	if err != nil {
		return nil, err
	}
	var d Device
	var ok bool
	if err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bDevices); b != nil {
			d, ok = deviceNamed(b, name)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	switch {
	case !ok:
		return nil, fmt.Errorf("device %q: %w", name, ErrNotFound)
	case d.Key == me:
		return nil, fmt.Errorf("remove device %q: %w", name, ErrThisDevice)
	}
	k, err := s.Key()
	if errors.Is(err, ErrNoIdentity) {
		return nil, ErrNeedIdentity
	}
	if err != nil {
		return nil, err
	}
	cenv, err := d.CertificateEnvelope()
	if err != nil || cenv == nil {
		return nil, fmt.Errorf("remove device %q: no certificate: %w", name, ErrCorrupt)
	}
	c, err := device.Open(cenv, k.Public())
	if err != nil {
		return nil, fmt.Errorf("remove device %q: %w", name, err)
	}
	env, err := device.Revoke(k, c, s.now())
	if err != nil {
		return nil, err
	}
	if _, err := s.AddRevocation(k.Public(), env); err != nil {
		return nil, err
	}
	err = s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bDevices)
		d.Revoked = true
		if err := putDevice(b, d); err != nil {
			return err
		}
		return s.touchKitLocked(tx) // the recovery kit lists devices and revocations
	})
	return env, err
}

// IsOwnDevice reports whether key k is a device of this person that the list holds and
// that is not revoked.
func (s *Store) IsOwnDevice(k identity.PublicKey) bool {
	ok := false
	_ = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bDevices)
		if b == nil {
			return nil
		}
		if v := b.Get(k[:]); v != nil {
			d, err := decodeDevice(k[:], v)
			ok = err == nil && !d.Revoked
		}
		return nil
	})
	return ok
}

// BecomeDevice makes a home that holds no identity the device dev of the person cert
// names: meta "pub" and the device key, plain, and certificate.
func (s *Store) BecomeDevice(dev *identity.Key, cert *signedv1.Envelope) error {
	return s.BecomeDeviceAtRest(dev, cert, identity.KeyFileOptions{})
}

// BecomeDeviceAtRest is BecomeDevice with the device key encrypted under
// opts.Passphrase when it is set (devkey.go); the key stays usable in this process, a
// later Open needs Unlock.
func (s *Store) BecomeDeviceAtRest(dev *identity.Key, cert *signedv1.Envelope, opts identity.KeyFileOptions) error {
	person, err := identity.PublicKeyFromBytes(cert.GetSigner())
	if err != nil {
		return fmt.Errorf("device certificate: %w", err)
	}
	if _, err := device.Check(person, dev.Public(), cert, nil, s.now()); err != nil {
		return err
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(cert)
	if err != nil {
		return err
	}
	seedKV, err := devSeedEntry(dev, opts)
	if err != nil {
		return err
	}
	err = s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if hasIdentity(meta) {
			return ErrHasIdentity
		}
		if pub := meta.Get(metaPub); pub != nil && !bytes.Equal(pub, person[:]) {
			return fmt.Errorf("become a device of %s: the home belongs to another person: %w", person.Short(), ErrHasIdentity)
		}
		for _, kv := range [][2][]byte{{metaPub, person[:]}, seedKV, {metaDevCert, raw}} {
			if err := meta.Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.self, s.hasSelf = person, true
	s.mu.Lock()
	s.devKey = dev
	s.mu.Unlock()
	return nil
}
