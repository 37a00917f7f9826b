package transport

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/quic-go/quic-go"
	"google.golang.org/protobuf/proto"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// Devices (issue 16; docs/DESIGN.md "Devices: one person, several keys"). A device's
// TLS certificate is self-signed by the device key, as an identity's is, and carries
// the device certificate its person's identity signed, in a private X.509 extension.
// The other end checks the chain (shared/device.Check, with the person's revocations
// it holds) and from then on treats the connection as the person's: Caller returns the
// identity, CallerDevice the device key. A certificate that claims a person and does
// not chain is refused outright, never taken for a stranger.

// oidDeviceCertificate is the extension holding the marshalled device certificate
// envelope (a private arc: nothing outside kith reads it).
var oidDeviceCertificate = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 59016, 16, 1}

// ErrDeviceRefused means the other end presented a device certificate that does not
// chain to a person, or that the person revoked.
var ErrDeviceRefused = errors.New("device certificate refused")

// deviceExtension wraps cert for the TLS certificate.
func deviceExtension(cert *signedv1.Envelope) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(cert)
}

// deviceCertificateOf returns the device certificate a peer's TLS certificate carries,
// or nil.
func deviceCertificateOf(cert *x509.Certificate) (*signedv1.Envelope, error) {
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(oidDeviceCertificate) {
			continue
		}
		if len(ext.Value) > 2*device.MaxRecord {
			return nil, fmt.Errorf("%w: extension of %d bytes", ErrDeviceRefused, len(ext.Value))
		}
		env := &signedv1.Envelope{}
		if err := proto.Unmarshal(ext.Value, env); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDeviceRefused, err)
		}
		return env, nil
	}
	return nil, nil
}

// who decides whom a peer's key (and device certificate, if any) stands for. want is
// the person expected when dialling; nil when accepting. It returns the person and the
// device key (equal to the person for an identity key).
func (t *Transport) who(k identity.PublicKey, cert *signedv1.Envelope, want *identity.PublicKey) (person, dev identity.PublicKey, err error) {
	if cert == nil {
		if want != nil && k != *want {
			return k, k, fmt.Errorf("%w: got %s, want %s", ErrWrongPeer, k.Short(), want.Short())
		}
		return k, k, nil
	}
	// The certificate names its signer; Check then verifies it against that person.
	person, err = identity.PublicKeyFromBytes(cert.GetSigner())
	if err != nil {
		return k, k, fmt.Errorf("%w: %v", ErrDeviceRefused, err)
	}
	if want != nil && person != *want {
		return person, k, fmt.Errorf("%w: a device of %s, want %s", ErrWrongPeer, person.Short(), want.Short())
	}
	var revoked []device.Revocation
	if t.cfg.Revoked != nil {
		if revoked, err = t.cfg.Revoked(person); err != nil {
			return person, k, fmt.Errorf("%w: revocations of %s: %w", ErrDeviceRefused, person.Short(), err)
		}
	}
	c, err := device.Check(person, k, cert, revoked, t.cfg.Now())
	if err != nil {
		if errors.Is(err, device.ErrRevoked) {
			t.log.Warn("refused a revoked device", "person", person.ID(), "device", fmt.Sprintf("%x", c.ID), "key", k.Short())
		}
		return person, k, fmt.Errorf("%w: %w", ErrDeviceRefused, err)
	}
	return person, k, nil
}

// dialledDevice is the key the dialled end proved in the handshake.
func dialledDevice(qc *quic.Conn) identity.PublicKey {
	certs := qc.ConnectionState().TLS.PeerCertificates
	if len(certs) == 0 {
		return identity.PublicKey{}
	}
	if pub, ok := certs[0].PublicKey.(ed25519.PublicKey); ok {
		k, _ := identity.PublicKeyFromBytes(pub)
		return k
	}
	return identity.PublicKey{}
}

// DropDevice closes every live connection that device key dev proved (a device its
// person just revoked): the revocation refuses its next handshakes, this ends the
// ones it holds. It returns how many it closed.
func (t *Transport) DropDevice(dev identity.PublicKey) int {
	t.mu.Lock()
	var drop []*Conn
	for c := range t.conns {
		if c.device == dev {
			drop = append(drop, c)
		}
	}
	t.mu.Unlock()
	for _, c := range drop {
		_ = c.qc.CloseWithError(0, "device revoked")
	}
	return len(drop)
}
