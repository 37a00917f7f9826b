package rendezvous_test

import (
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
)

// TestKeepaliveEnforcement pings the server far more often than its policy allows, from
// a raw HTTP/2 client (grpc-go's own client will not ping that often): the server must
// end the connection with GOAWAY ENHANCE_YOUR_CALM, "too_many_pings".
func TestKeepaliveEnforcement(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{})
	conn, err := net.Dial("tcp", srv.GRPC)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := fr.WritePing(false, [8]byte{byte(i)}); err != nil {
			t.Fatalf("ping %d: %v", i, err)
		}
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("the server did not send GOAWAY for too many pings: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeEnhanceYourCalm || string(f.DebugData()) != "too_many_pings" {
				t.Fatalf("GOAWAY %v %q, want ENHANCE_YOUR_CALM \"too_many_pings\"", f.ErrCode, f.DebugData())
			}
			return
		}
	}
}
