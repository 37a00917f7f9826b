package reach

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/kithnet/kith/peer/discovery"
	"github.com/kithnet/kith/peer/transport"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// ErrPrivate means a peer that is not our friend publishes no addresses: its
// candidates are sealed for its friends (it runs without --publish-addresses, or has
// nothing public), so a stranger cannot reach it through the rendezvous.
var ErrPrivate = errors.New("publishes its addresses only to its friends (it runs without --publish-addresses, or has nothing public)")

// ErrNoAddress means direct mode has no address for the peer.
var ErrNoAddress = errors.New("has no known address (add one with --addr HOST:PORT)")

// ErrDirectMode means a call needs a rendezvous and the node runs without one.
var ErrDirectMode = errors.New("no rendezvous: the node runs in direct mode")

// Agent owns the paths to every remote key and hands out connections over the best.
type Agent struct {
	cfg    Config
	person identity.PublicKey // whom Key speaks for: itself, or its certificate's identity
	disc   *discovery.Client  // nil in direct mode
	log    *slog.Logger
	// mappingKnown wakes keepCreds up when the NAT's mapping was measured (a send that
	// never blocks; buffered 1).
	mappingKnown chan struct{}
	// primeWake wakes keepCreds up to prime an allocation afresh (the node's was
	// released, or the primed one was taken); a send that never blocks, buffered 1.
	primeWake chan struct{}

	relayMu sync.Mutex // held while allocating; lock order: relayMu, then mu

	mu         sync.Mutex      // guards every field below; lock order: relayMu, then mu, then relayed.mu
	ctx        context.Context // Run's; nil before Run and after it returns
	wg         sync.WaitGroup  // offers being answered, upgrades, relays' ping answerers
	reflexive  chan struct{}   // closed once the first reflexive address is known
	reflexAddr netip.AddrPort
	infoStun   []string       // stun: URIs from the last ServerInfo, before a registration names them
	infoServer string         // the server that gave infoStun
	depth      int            // hops inside our own NATs (nat.NATDepth); -1 until measured
	depthOf    netip.AddrPort // the STUN server depth was measured towards
	endpoints  map[identity.PublicKey]*endpoint
	live       map[string]liveness // by connection (liveKey): when its received count last moved
	relay      *relayed            // the node's TURN allocation, once made
	primed     *primed             // an allocation with its 401 done, while there is no relay (relayprime.go)

	mappingKind rendezvousv1.Mapping // how our NAT maps (measureMapping); unspecified until measured
	mappingOf   netip.AddrPort       // the second STUN server mappingKind was measured with
	creds       heldCreds            // TURN credentials kept at hand (relaycreds.go); zero when none
	birthdays   int                  // the hard side's birthday attempts running
	spareSocks  []*spare             // spare sockets the birthday method kept, with their transports

	strangerWindow time.Time // start of the minute strangers' offers are counted in
	strangers      int       // strangers' offers answered in that minute

	answers      map[string]answerWaiter                     // by punch secret: attempts waiting for a friend's ANSWER
	relayAnswers map[string]relayAnswerWaiter                // by punch secret: finds waiting for the callee's relay (relayanswer.go)
	backs        map[identity.PublicKey]chan *transport.Conn // finds waiting for a friend's dial-back (dialback.go)
	helpers      map[identity.PublicKey]int                  // peers that count us as a friend though the Book does not list them (a recovery asks them)
	reach        reachState                                  // as last registered (refreshReach)
}

// New makes an Agent; Run starts its work in rendezvous mode.
func New(cfg Config) (*Agent, error) {
	cfg = cfg.withDefaults()
	if cfg.Key == nil || cfg.Transport == nil {
		return nil, errors.New("reach: Config.Key and Config.Transport are required")
	}
	person := cfg.Key.Public()
	if cfg.DeviceCertificate != nil {
		signer, err := identity.PublicKeyFromBytes(cfg.DeviceCertificate.GetSigner())
		if err != nil {
			return nil, fmt.Errorf("reach: Config.DeviceCertificate: %w", err)
		}
		c, err := device.Open(cfg.DeviceCertificate, signer)
		if err != nil {
			return nil, fmt.Errorf("reach: Config.DeviceCertificate: %w", err)
		}
		if c.Key != person {
			return nil, errors.New("reach: Config.DeviceCertificate certifies another key than Config.Key")
		}
		person = c.Identity
	}
	a := &Agent{cfg: cfg, person: person, log: cfg.Logger, endpoints: map[identity.PublicKey]*endpoint{},
		reflexive: make(chan struct{}), mappingKnown: make(chan struct{}, 1), primeWake: make(chan struct{}, 1), depth: -1, answers: map[string]answerWaiter{}, relayAnswers: map[string]relayAnswerWaiter{}, helpers: map[identity.PublicKey]int{},
		backs: map[identity.PublicKey]chan *transport.Conn{}}
	cfg.Transport.OnDialBack(a.dialledBack)
	if len(cfg.Servers) == 0 {
		return a, nil
	}
	if cfg.Mux == nil {
		return nil, errors.New("reach: Config.Mux is required with rendezvous servers")
	}
	disc, err := discovery.New(discovery.Config{Key: cfg.Key, DeviceID: cfg.DeviceID, DeviceCertificate: cfg.DeviceCertificate, Servers: cfg.Servers, Candidates: a.candidates,
		OnOffer: a.onOffer, BeforeRegister: a.beforeRegister, Logger: cfg.Logger, MaxBackoff: 5 * time.Second, RootCAs: cfg.RootCAs,
		ReachKey: a.reachKey, Public: a.publishes, Mapping: a.mapping})
	if err != nil {
		return nil, fmt.Errorf("reach: %w", err)
	}
	a.disc = disc
	return a, nil
}

// Rendezvous reports whether the agent finds peers through rendezvous servers.
func (a *Agent) Rendezvous() bool { return a.disc != nil }

// RequestFriend hands k a signed friend request sealed through the rendezvous (an offer
// of kind FRIEND_REQUEST, issue 18). It fails in direct mode.
func (a *Agent) RequestFriend(ctx context.Context, k identity.PublicKey, req *signedv1.Envelope) error {
	if a.disc == nil {
		return ErrDirectMode
	}
	return a.disc.RequestFriend(ctx, k, req)
}

// Run keeps the registration, the Listen stream and the reflexive address fresh until
// ctx ends, then waits for everything it started. In direct mode it only watches which
// connections still answer.
func (a *Agent) Run(ctx context.Context) {
	if a.disc == nil {
		go a.warm(ctx)
		a.watchLive(ctx)
		return
	}
	a.mu.Lock()
	a.ctx = ctx
	a.mu.Unlock()
	var wg sync.WaitGroup
	a.refreshReach() // before the first registration, so it is not sent twice
	wg.Add(6)
	go func() { defer wg.Done(); a.warm(ctx) }()
	go func() { defer wg.Done(); a.watchLive(ctx) }()
	go func() { defer wg.Done(); a.keepCreds(ctx) }()
	go func() { defer wg.Done(); a.disc.Run(ctx) }() // calls beforeRegister: STUN first
	go func() { defer wg.Done(); a.stun(ctx) }()
	go func() { defer wg.Done(); a.watchReach(ctx) }()
	wg.Wait()
	a.mu.Lock()
	a.ctx = nil
	a.mu.Unlock()
	a.wg.Wait()
	a.closeSpares()
}

// warm makes the node's first connect after it starts as quick as the later ones: the
// transport's handshake (Transport.Warm) and the offers' sealing (Client.Warm) each run
// once in memory.
func (a *Agent) warm(ctx context.Context) {
	err := a.cfg.Transport.Warm(ctx)
	if a.disc != nil {
		err = errors.Join(err, a.disc.Warm())
	}
	if err != nil && ctx.Err() == nil {
		a.log.Warn("reach: the warm-up failed (the first connect may be slower)", "err", err)
	}
}

// spawn runs f on a goroutine that Run waits for; it reports false once Run is over.
func (a *Agent) spawn(f func(ctx context.Context)) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ctx == nil || a.ctx.Err() != nil {
		return false
	}
	ctx := a.ctx
	a.wg.Add(1)
	go func() { defer a.wg.Done(); f(ctx) }()
	return true
}

// Close releases the relay and the birthday method's spare sockets.
func (a *Agent) Close() {
	a.dropRelay(nil)
	a.closeSpares()
}

// Status is the rendezvous part of `kith status`.
func (a *Agent) Status() *localv1.RendezvousStatus {
	if a.disc == nil {
		return &localv1.RendezvousStatus{Mode: "none"}
	}
	st := a.disc.Status()
	a.mu.Lock()
	defer a.mu.Unlock()
	out := &localv1.RendezvousStatus{Mode: "rendezvous", Address: st.Server, Registered: st.Registered,
		Published: st.Registered && st.Public}
	if !st.Registered && st.Err != "" {
		out.Address, out.Error = st.Tried, st.Err
	}
	if a.reflexAddr.IsValid() {
		out.ReflexiveAddress = a.reflexAddr.String()
	}
	return out
}

// ExpectAnswer marks k, until done is called, as a peer that counts us as a friend
// though the Book does not list it: a recovering home lost its friend list (and the
// reachability keys with it), so it offers to the friends it asks as a friend would and
// waits for their sealed ANSWER instead of giving up on their sealed candidates.
func (a *Agent) ExpectAnswer(k identity.PublicKey) (done func()) {
	a.mu.Lock()
	a.helpers[k]++
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.helpers[k]--; a.helpers[k] <= 0 {
			delete(a.helpers, k)
		}
	}
}

func (a *Agent) helping(k identity.PublicKey) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.helpers[k] > 0
}

// friendly reports whether k is treated as a friend: in the Book, or helping a recovery.
func (a *Agent) friendly(k identity.PublicKey) bool { return a.cfg.Book.IsFriend(k) || a.helping(k) }
