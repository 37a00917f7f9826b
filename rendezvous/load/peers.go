package load

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// maxStreamsPerConn stays under the rendezvous' limit of 16 concurrent streams per
// connection.
const maxStreamsPerConn = 15

// swarm is the simulated peers: their keys, and connections to every instance.
type swarm struct {
	keys  []*identity.Key
	addrs []string // instances' gRPC addresses
	// unary holds a few connections per instance for Register, Lookup and Connect.
	unary [][]rendezvousv1.RendezvousServiceClient
	conns []*grpc.ClientConn

	mu      sync.Mutex
	sent    map[string]time.Time // offer signature -> when Connect was called
	arrived []time.Duration      // offer delivery latencies
	extra   int                  // offers that arrived unexpected (or twice)
	lost    int                  // Listen streams that ended before the run did
}

// newKeys generates n identity keys on every core.
func newKeys(n int) ([]*identity.Key, error) {
	keys := make([]*identity.Key, n)
	err := parallel(n, func(i int) error {
		k, err := identity.Generate(rand.Reader)
		keys[i] = k
		return err
	})
	return keys, err
}

func newSwarm(keys []*identity.Key, addrs []string, unaryConns int) (*swarm, error) {
	s := &swarm{keys: keys, addrs: addrs, sent: map[string]time.Time{}}
	for _, a := range addrs {
		var cl []rendezvousv1.RendezvousServiceClient
		for range unaryConns {
			c, err := s.dial(a)
			if err != nil {
				s.close()
				return nil, err
			}
			cl = append(cl, c)
		}
		s.unary = append(s.unary, cl)
	}
	return s, nil
}

func (s *swarm) dial(addr string) (rendezvousv1.RendezvousServiceClient, error) {
	return s.dialFrom(addr, 0)
}

// dialFrom dials addr from loopback source address 127.0.0.(2 + j mod 250): one source
// address has about 28k ephemeral ports toward one server port, too few for 100k peers.
func (s *swarm) dialFrom(addr string, j int) (rendezvousv1.RendezvousServiceClient, error) {
	src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+j%250))}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: src}
			return d.DialContext(ctx, "tcp", a)
		}))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.conns = append(s.conns, conn)
	s.mu.Unlock()
	return rendezvousv1.NewRendezvousServiceClient(conn), nil
}

func (s *swarm) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

// home is the instance peer i uses; a caller offers through the next one, so with two
// instances every offer crosses from one instance to the other through Redis.
func (s *swarm) home(i int) int { return i % len(s.addrs) }

func (s *swarm) client(instance, i int) rendezvousv1.RendezvousServiceClient {
	cl := s.unary[instance]
	return cl[i%len(cl)]
}

// serverName is the --name of the instances the load runs: every signed proof names it.
const serverName = "kith-load"

// sealedCandidates is the ciphertext's length of three candidates (host,
// server-reflexive, IPv6), as a dual-stack peer behind a NAT seals them
// (peer/discovery, Reachability v2), with the 16-byte tag.
var sealedCandidates = proto.Size(&rendezvousv1.Reachability{Endpoints: []*rendezvousv1.Endpoint{
	{Ip: make([]byte, 4), Port: 41641, Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_HOST},
	{Ip: make([]byte, 4), Port: 41641, Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_SERVER_REFLEXIVE},
	{Ip: make([]byte, 16), Port: 41641, Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_HOST},
}}) + 16

// registration signs peer i's record at ts with sealed candidates of the size
// sealedCandidates: the server never opens them, so random bytes of that size stand in.
func (s *swarm) registration(i int, ts time.Time, ttl time.Duration) (*signedv1.Envelope, error) {
	k := s.keys[i]
	return signed.Seal(k, identity.ContextRegistration, &rendezvousv1.Registration{
		PublicKey: k.Public().Bytes(), TimestampUnixMs: ts.UnixMilli(), TtlSeconds: uint32(ttl / time.Second),
		Version: rendezvousv1.RecordVersion_RECORD_VERSION_2, Server: serverName,
		Reachability: &rendezvousv1.SealedReachability{Nonce: randomBytes(24), Ciphertext: randomBytes(sealedCandidates)},
	})
}

func (s *swarm) register(ctx context.Context, i int, env *signedv1.Envelope) error {
	_, err := s.client(s.home(i), i).Register(ctx, &rendezvousv1.RegisterRequest{Record: env})
	return err
}

func (s *swarm) lookup(ctx context.Context, caller, target int) error {
	_, err := s.client(s.home(caller), caller).Lookup(ctx, &rendezvousv1.LookupRequest{Fingerprint: string(s.keys[target].Public().Fingerprint())})
	return err
}

// offer sends a signed offer from caller to target through the instance after the
// target's, and notes when, for the delivery latency.
func (s *swarm) offer(ctx context.Context, caller, target int) error {
	fp := s.keys[target].Public().Fingerprint()
	// A sealed offer of a real one's size: the server never opens it.
	env := &rendezvousv1.SealedOffer{Version: rendezvousv1.RecordVersion_RECORD_VERSION_2,
		TargetFingerprint: string(fp), TimestampUnixMs: time.Now().UnixMilli(), Nonce: nonce(), Sealed: randomBytes(420)}
	via := (s.home(target) + 1) % len(s.addrs)
	s.mu.Lock()
	s.sent[string(env.GetNonce())] = time.Now()
	s.mu.Unlock()
	_, err := s.client(via, caller).Connect(ctx, &rendezvousv1.ConnectRequest{TargetFingerprint: string(fp), Offer: env})
	if err != nil {
		s.mu.Lock()
		delete(s.sent, string(env.GetNonce()))
		s.mu.Unlock()
	}
	return err
}

// delivered records the arrival of an offer on a Listen stream.
func (s *swarm) delivered(env *rendezvousv1.SealedOffer) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.sent[string(env.GetNonce())]
	if !ok {
		s.extra++
		return
	}
	delete(s.sent, string(env.GetNonce()))
	s.arrived = append(s.arrived, now.Sub(at))
}

// listen opens Listen streams for peers 0..n-1, perConn to a connection, each on
// its peer's instance, and returns once every stream has its first (ready) message. The
// streams deliver offers to s.delivered until ctx ends; wait waits for their goroutines.
func (s *swarm) listen(ctx context.Context, n, perConn, concurrency int) (wait func(), err error) {
	var wg sync.WaitGroup
	clients := make([][]rendezvousv1.RendezvousServiceClient, len(s.addrs))
	for inst := range s.addrs {
		for j := range (n/len(s.addrs))/perConn + 1 {
			c, err := s.dialFrom(s.addrs[inst], j)
			if err != nil {
				return wg.Wait, err
			}
			clients[inst] = append(clients[inst], c)
		}
	}
	err = parallelN(n, concurrency, func(i int) error {
		inst := s.home(i)
		c := clients[inst][(i/len(s.addrs))/perConn]
		k := s.keys[i]
		auth, err := signed.Seal(k, identity.ContextListen, &rendezvousv1.Auth{
			PublicKey: k.Public().Bytes(), TimestampUnixMs: time.Now().UnixMilli(), Nonce: nonce(), Server: serverName})
		if err != nil {
			return err
		}
		st, err := c.Listen(ctx, &rendezvousv1.ListenRequest{Auth: auth})
		if err != nil {
			return fmt.Errorf("listen %d: %w", i, err)
		}
		if _, err := st.Recv(); err != nil {
			return fmt.Errorf("listen %d: first message: %w", i, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := st.Recv()
				if err != nil {
					if ctx.Err() == nil && !errors.Is(err, io.EOF) {
						s.mu.Lock()
						s.lost++
						s.mu.Unlock()
					}
					return
				}
				if m.GetOffer() != nil {
					s.delivered(m.GetOffer())
				}
			}
		}()
		return nil
	})
	return wg.Wait, err
}

// randomBytes is n random bytes, standing in for ciphertext.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func nonce() []byte {
	n := make([]byte, 16)
	rand.Read(n)
	return n
}
