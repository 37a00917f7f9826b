package transport

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

// alpn names the protocol spoken on kith's QUIC connections.
const alpn = "kith-sync/1"

// ErrWrongPeer means the other end's key is not the one expected.
var ErrWrongPeer = errors.New("peer presented a different key than expected")

// certificate makes a self-signed TLS certificate for k's ed25519 key: the handshake's
// CertificateVerify then proves the peer holds the identity key itself.
// A device key's certificate also carries devCert (device.go).
func certificate(k *identity.Key, devCert *signedv1.Envelope, now time.Time) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: string(k.ID())},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour * 365),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if devCert != nil {
		ext, err := deviceExtension(devCert)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("device certificate: %w", err)
		}
		tmpl.ExtraExtensions = []pkix.Extension{{Id: oidDeviceCertificate, Value: ext}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.PrivateKey().Public(), k.PrivateKey())
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("identity certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k.PrivateKey()}, nil
}

// peerKey returns the key a peer's certificate chain is bound to, and the device
// certificate it carries (nil for an identity key). Only the ed25519 key and that
// extension matter: names, dates and issuers are the peer's own say.
func peerKey(rawCerts [][]byte) (identity.PublicKey, *signedv1.Envelope, error) {
	if len(rawCerts) == 0 {
		return identity.PublicKey{}, nil, errors.New("peer sent no certificate")
	}
	cert, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return identity.PublicKey{}, nil, fmt.Errorf("peer certificate: %w", err)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok {
		return identity.PublicKey{}, nil, fmt.Errorf("peer certificate key is %T, want ed25519", cert.PublicKey)
	}
	k, err := identity.PublicKeyFromBytes(pub)
	if err != nil {
		return k, nil, err
	}
	dev, err := deviceCertificateOf(cert)
	return k, dev, err
}

// tlsConfig returns the TLS 1.3 configuration for one side. want is the expected
// person when dialling (its identity key, or one of its devices); nil when accepting
// (any key; the caller decides what it may see).
func (t *Transport) tlsConfig(want *identity.PublicKey) *tls.Config {
	protos := []string{alpn}
	if want == nil {
		protos = append(protos, alpnBack) // a listener takes a dial-back too (back.go)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{t.cert},
		NextProtos:   protos,
		ClientAuth:   tls.RequireAnyClientCert,
		// The chain is not checked against any CA: identity is the key itself, checked
		// below, and TLS 1.3 checks the handshake signature against that key.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			k, dev, err := peerKey(raw)
			if err != nil {
				return err
			}
			_, _, err = t.who(k, dev, want)
			return err
		},
	}
}
