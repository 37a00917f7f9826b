// Package tlstest writes throwaway TLS certificates for tests of servers that speak TLS.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Cert is a self-signed server certificate for localhost and 127.0.0.1, valid for an
// hour either side of now, written as PEM files in a directory the test removes.
type Cert struct {
	// CertFile and KeyFile are the certificate and its EC private key, PEM.
	CertFile, KeyFile string
	// Pool trusts the certificate, for the test's client.
	Pool *x509.CertPool
}

// SelfSigned makes a Cert for t, failing t if it cannot.
func SelfSigned(t testing.TB) Cert {
	t.Helper()
	c, err := Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Write makes a Cert in dir (cert.pem and key.pem), for harnesses without a testing.TB
// (testscript commands).
func Write(dir string) (Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Cert{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return Cert{}, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return Cert{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Cert{}, err
	}
	c := Cert{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"), Pool: x509.NewCertPool()}
	c.Pool.AddCert(cert)
	for path, block := range map[string]*pem.Block{
		c.CertFile: {Type: "CERTIFICATE", Bytes: der},
		c.KeyFile:  {Type: "EC PRIVATE KEY", Bytes: kder},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			return Cert{}, err
		}
	}
	return c, nil
}
