package reach

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"google.golang.org/grpc"

	"github.com/kithnet/kith/peer/nat"
	"github.com/kithnet/kith/peer/transport"
	"github.com/kithnet/kith/shared/identity"
)

// Stranger reaches peers that do not know its key, through rendezvous servers, the way
// a node reaches its friends: registration, signed offers, punching, a TURN relay. It
// holds nothing but its key and serves nothing: the reference crawler dials through it.
type Stranger struct {
	agent  *Agent
	tr     *transport.Transport
	mux    *nat.Mux
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartStranger starts a Stranger with key on listen (":0" when empty), registered with
// servers, until Close.
func StartStranger(key *identity.Key, servers []string, listen string, log *slog.Logger) (*Stranger, error) {
	if listen == "" {
		listen = ":0"
	}
	addr, err := net.ResolveUDPAddr("udp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", listen, err)
	}
	udp, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", listen, err)
	}
	s := &Stranger{mux: nat.NewMux(udp, nat.MuxConfig{Logger: log})}
	if s.tr, err = transport.New(transport.Config{Key: key, PacketConn: s.mux.PacketConn(), Logger: log}); err != nil {
		s.Close()
		return nil, err
	}
	if s.agent, err = New(Config{Key: key, Transport: s.tr, Mux: s.mux, Servers: servers, Logger: log}); err != nil {
		s.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.agent.Run(ctx) }()
	return s, nil
}

// Dial connects to want: at addr when given, else through the rendezvous. A stranger
// takes the path it finds and does not look for a better one.
func (s *Stranger) Dial(ctx context.Context, want identity.PublicKey, addr string) (*grpc.ClientConn, error) {
	c, err := s.agent.Dial(ctx, Target{Key: want, Addr: addr})
	if err != nil {
		return nil, err
	}
	c.stop()
	return c.ClientConn, nil
}

// DialJoin connects to want through the rendezvous for a join: the offer carries proof
// (peer/device.JoinProof) as its punch secret, and want is expected to answer although
// it does not know this key.
func (s *Stranger) DialJoin(ctx context.Context, want identity.PublicKey, proof []byte) (*grpc.ClientConn, error) {
	defer s.agent.ExpectAnswer(want)()
	c, err := s.agent.Dial(ctx, Target{Key: want, PunchSecret: proof})
	if err != nil {
		return nil, err
	}
	c.stop()
	return c.ClientConn, nil
}

// Close stops the Stranger.
func (s *Stranger) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if s.agent != nil {
		s.agent.Close()
	}
	if s.tr != nil {
		s.tr.Close()
	}
	return s.mux.Close()
}
