package rendezvous_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/kithnet/kith/rendezvous"
)

func TestStartFailsCleanlyOnBusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = rendezvous.Start(context.Background(), rendezvous.Config{Listen: busy.Addr().String(), STUN: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "--listen") {
		t.Fatalf("Start on a busy gRPC port: %v, want an error naming --listen", err)
	}
	_, err = rendezvous.Start(context.Background(), rendezvous.Config{Listen: "127.0.0.1:0", STUN: "127.0.0.1:0", Metrics: busy.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "--metrics") {
		t.Fatalf("Start on a busy metrics port: %v, want an error naming --metrics", err)
	}
}
