package nat_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/kithnet/kith/peer/nat"
)

// Example shows how the peer's transport wires the building blocks together on its
// one socket: learn the reflexive address, punch with the friend's candidates, dial
// QUIC on the path that answered, and fall back to a TURN relay when none does.
func Example() {
	ctx := context.Background()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{Port: 7001})
	if err != nil {
		return
	}
	mux := nat.NewMux(conn, nat.MuxConfig{})
	defer mux.Close()
	tr := &quic.Transport{Conn: mux.PacketConn()} // QUIC reads only QUIC datagrams
	defer tr.Close()

	// 1. Candidates for the signed registration: host addresses and server-reflexive.
	rendezvous := netip.MustParseAddrPort("198.18.1.2:3478")
	srflx, err := mux.Binding(ctx, rendezvous)
	if err != nil {
		return
	}
	hosts, _ := nat.HostCandidates(mux.LocalAddr().Port())
	_ = append(hosts, srflx) // register these
	keepCtx, stopKeepalive := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // holds the mapping the reflexive candidate names
		defer wg.Done()
		_ = nat.Keepalive(keepCtx, mux, net.UDPAddrFromAddrPort(rendezvous), nat.DefaultKeepalive)
	}()
	defer func() { stopKeepalive(); wg.Wait() }()

	// 2. Connect: the nonce goes in the signed offer; the friend's candidates come
	// from its signed record. Both ends punch at once.
	nonce := nat.NewNonce()
	friend := []netip.AddrPort{netip.MustParseAddrPort("198.18.4.2:7001")}
	var tlsConf *tls.Config // bound to the identity keys by the transport
	path, err := mux.Punch(ctx, nat.PunchConfig{Nonce: nonce, Candidates: friend, Timeout: 3 * time.Second})
	if err == nil {
		_, _ = tr.Dial(ctx, net.UDPAddrFromAddrPort(path.Remote), tlsConf, &quic.Config{KeepAlivePeriod: nat.DefaultKeepalive})
		return
	}
	if !errors.Is(err, nat.ErrNoPath) {
		return
	}

	// 3. No direct path: allocate a relay with the rendezvous' TURN credentials, send
	// relay.Addr to the friend through signalling, and run QUIC on the relay.
	relay, err := mux.AllocateTURN(ctx, nat.TURNConfig{Server: rendezvous, Username: "1767225600:fingerprint", Password: "from-the-rendezvous"})
	if err != nil {
		return
	}
	defer relay.Close()
	relayed := &quic.Transport{Conn: relay.Conn}
	defer relayed.Close()
	_, _ = relayed.Dial(ctx, net.UDPAddrFromAddrPort(friend[0]), tlsConf, nil)
}
