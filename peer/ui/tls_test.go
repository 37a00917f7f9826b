package ui

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// TestBeyondLoopbackOverTLS binds every interface, as a person serving their phone on
// the LAN would: only HTTPS answers, login needs the password, and the cookie is Secure.
func TestBeyondLoopbackOverTLS(t *testing.T) {
	home := t.TempDir()
	cert, key := selfSigned(t)
	s, err := Listen(Config{Addr: "0.0.0.0:0", Home: home, TLSCert: cert, TLSKey: key, Password: "lan secret",
		API: localv1.UnimplementedLocalServiceServer{}, Blobs: noBlobs{}, Changes: NewSignal()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if !strings.HasPrefix(s.URL(), "https://localhost:") {
		t.Fatalf("URL %s, want https://localhost:PORT/", s.URL())
	}
	_, port, _ := net.SplitHostPort(s.ln.Addr().String())
	base := "https://127.0.0.1:" + port
	client := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if resp, err := http.Get("http://127.0.0.1:" + port + "/login"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP was served beyond loopback")
		}
	}
	tok, _ := MintToken(home)
	resp, err := client.PostForm(base+"/login", url.Values{"token": {tok}, "password": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a wrong password: %d, want 403", resp.StatusCode)
	}
	resp, err = client.PostForm(base+"/login", url.Values{"token": {tok}, "password": {"lan secret"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cs := resp.Cookies()
	if resp.StatusCode != http.StatusSeeOther || len(cs) != 1 || !cs[0].Secure || !cs[0].HttpOnly {
		t.Fatalf("login over TLS: %d, cookies %+v; want one Secure, HttpOnly session cookie", resp.StatusCode, cs)
	}
}

// selfSigned writes a throwaway certificate for localhost and 127.0.0.1.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}
