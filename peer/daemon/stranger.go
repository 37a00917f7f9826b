package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"

	"google.golang.org/grpc"

	"github.com/kithnet/kith/peer/nat"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/shared/identity"
)

// Stranger reaches peers that do not know its key, through rendezvous servers, the way a
// node reaches its friends: registration, signed offers, punching, a TURN relay. It holds
// nothing but its key (in a temporary store) and serves nothing worth having: the
// reference crawler dials through it.
type Stranger struct {
	node   *Node
	st     *store.Store
	mux    *nat.Mux
	udp    *net.UDPConn
	home   string
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartStranger starts a Stranger with key on listen (":0" when empty), registered with
// servers, until Close.
func StartStranger(key *identity.Key, servers []string, listen string, log *slog.Logger) (*Stranger, error) {
	if listen == "" {
		listen = ":0"
	}
	home, err := os.MkdirTemp("", "kith-stranger-")
	if err != nil {
		return nil, err
	}
	s := &Stranger{home: home}
	if err := s.start(key, servers, listen, log); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Stranger) start(key *identity.Key, servers []string, listen string, log *slog.Logger) error {
	var err error
	if s.st, err = store.Open(store.Config{Home: s.home, Logger: log, NoSync: true}); err != nil {
		return err
	}
	if err := s.st.Init(key, ""); err != nil {
		return err
	}
	addr, err := net.ResolveUDPAddr("udp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	if s.udp, err = net.ListenUDP("udp", addr); err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	s.mux = nat.NewMux(s.udp, nat.MuxConfig{Logger: log})
	if s.node, err = Start(Config{Store: s.st, PacketConn: s.mux.PacketConn(), Logger: log,
		Traversal: &TraversalConfig{Mux: s.mux, Servers: servers}}); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.node.Traverse(ctx) }()
	return nil
}

// Dial connects to want: at addr when given, else through the rendezvous.
func (s *Stranger) Dial(ctx context.Context, want identity.PublicKey, addr string) (*grpc.ClientConn, error) {
	return s.node.Dial(ctx, want, addr)
}

// Close stops the Stranger and removes its temporary store.
func (s *Stranger) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if s.node != nil {
		s.node.Close()
	}
	if s.mux != nil {
		s.mux.Close()
	}
	if s.udp != nil {
		s.udp.Close()
	}
	if s.st != nil {
		s.st.Close()
	}
	return os.RemoveAll(s.home)
}
