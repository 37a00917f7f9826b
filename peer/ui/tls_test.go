package ui

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kithnet/kith/shared/tlstest"

	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// TestBeyondLoopbackOverTLS binds every interface, as a person serving their phone on
// the LAN would: only HTTPS answers, login needs the password, and the cookie is Secure.
func TestBeyondLoopbackOverTLS(t *testing.T) {
	home := t.TempDir()
	c := tlstest.SelfSigned(t)
	cert, key := c.CertFile, c.KeyFile
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
