package turn_test

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	pturn "github.com/pion/turn/v2"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/testenv"
)

// freeUDP returns a free loopback UDP port.
func freeUDP(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// startTurnserver runs coturn's turnserver with use-auth-secret on loopback.
func startTurnserver(t *testing.T, secret string) string {
	t.Helper()
	bin := testenv.Command(t, "turnserver", "coturn")
	port := freeUDP(t)
	cmd := exec.Command(bin, "-n", "--no-cli", "--no-tls", "--no-dtls", "--no-tcp",
		"-L", "127.0.0.1", "-E", "127.0.0.1", "-p", strconv.Itoa(port), "--realm", "kith",
		"--use-auth-secret", "--static-auth-secret", secret, "--log-file", "stdout", "--simple-log",
		"--pidfile", t.TempDir()+"/turnserver.pid", "--userdb", t.TempDir()+"/turndb")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("turnserver log:\n%s", out.String())
		}
	})
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// allocate tries a TURN allocation at addr with username and password.
func allocate(t *testing.T, addr, username, password string) error {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, err := pturn.NewClient(&pturn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn, Username: username, Password: password,
		LoggerFactory: logging.NewDefaultLoggerFactory(), RTO: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := c.Allocate()
	if err != nil {
		return err
	}
	relay.Close()
	return nil
}

// TestCredentialsAcceptedByCoturn: credentials from TurnCredentials open an allocation on
// the embedded TURN and on a coturn turnserver configured with the same secret.
func TestCredentialsAcceptedByCoturn(t *testing.T) {
	const secret = "shared-s3cret"
	coturn := startTurnserver(t, secret)
	srv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: secret})
	c := srv.Client(t)
	k := rendezvoustest.NewKey(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reg := rendezvoustest.Registration(t, k, time.Now(), time.Minute, "192.0.2.1:1")
	if _, err := c.Register(ctx, &rendezvousv1.RegisterRequest{Record: reg}); err != nil {
		t.Fatal(err)
	}
	cred, err := c.TurnCredentials(ctx, &rendezvousv1.TurnCredentialsRequest{
		Auth: rendezvoustest.Auth(t, k, identity.ContextTurnCredentials, time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	connectTo(t, srv, "198.51.100.7:9") // the embedded TURN relays only for a client connecting to someone
	if err := allocate(t, srv.STUN, cred.GetUsername(), cred.GetPassword()); err != nil {
		t.Errorf("embedded TURN refused credentials from TurnCredentials: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := allocate(t, coturn, cred.GetUsername(), cred.GetPassword())
		if err == nil {
			break
		}
		if time.Now().After(deadline) || !strings.Contains(err.Error(), "timeout") && !strings.Contains(err.Error(), "refused") {
			t.Fatalf("coturn with the same secret refused credentials from TurnCredentials: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // turnserver still starting
	}
	if err := allocate(t, coturn, cred.GetUsername(), "d3Jvbmc="); err == nil {
		t.Fatal("coturn accepted a wrong password: the test proves nothing")
	}
}
