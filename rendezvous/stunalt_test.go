package rendezvous_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/pion/stun"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous"
)

// TestSecondSTUNPort (issue 20): with --stun-alt the server answers STUN on a second
// port and names it second among its stun: URIs, so a peer can compare the mappings of
// two destinations (a symmetric NAT gives two ports); without it, one URI.
func TestSecondSTUNPort(t *testing.T) {
	for _, tc := range []struct {
		name string
		alt  string
		uris int
	}{{"with-stun-alt", "127.0.0.1:0", 2}, {"without", "", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			inst, err := rendezvous.Start(context.Background(), rendezvous.Config{Listen: "127.0.0.1:0", STUN: "127.0.0.1:0", STUNAlt: tc.alt, TURNSecret: "s"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { inst.Stop() })
			cc, err := grpc.NewClient(inst.GRPCAddr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			info, err := rendezvousv1.NewRendezvousServiceClient(cc).ServerInfo(ctx, &rendezvousv1.ServerInfoRequest{})
			if err != nil {
				t.Fatal(err)
			}
			uris := info.GetStunUris()
			if len(uris) != tc.uris {
				t.Fatalf("stun URIs %v, want %d", uris, tc.uris)
			}
			if uris[0] != "stun:127.0.0.1:"+strconv.Itoa(inst.STUNAddr.(*net.UDPAddr).Port) {
				t.Errorf("first stun URI %q, want the --stun port %v", uris[0], inst.STUNAddr)
			}
			if tc.alt == "" {
				if inst.STUNAltAddr != nil {
					t.Errorf("STUNAltAddr %v without --stun-alt", inst.STUNAltAddr)
				}
				return
			}
			if want := "stun:127.0.0.1:" + strconv.Itoa(inst.STUNAltAddr.(*net.UDPAddr).Port); uris[1] != want {
				t.Errorf("second stun URI %q, want %q", uris[1], want)
			}
			for _, server := range []net.Addr{inst.STUNAddr, inst.STUNAltAddr} {
				if got := bind(t, server); got == nil {
					t.Errorf("no STUN answer from %v", server)
				}
			}
		})
	}
}

// bind sends one STUN binding request to server from a fresh socket and returns the
// mapped address, nil when nothing answers in 2 s.
func bind(t *testing.T, server net.Addr) *stun.XORMappedAddress {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	if _, err := c.WriteTo(req.Raw, server); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 1500)
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		return nil
	}
	res := &stun.Message{Raw: buf[:n]}
	if res.Decode() != nil {
		return nil
	}
	var xor stun.XORMappedAddress
	if xor.GetFrom(res) != nil {
		return nil
	}
	if xor.Port != c.LocalAddr().(*net.UDPAddr).Port {
		t.Errorf("%v mapped %v, want the socket's own port %v", server, xor, c.LocalAddr())
	}
	return &xor
}
