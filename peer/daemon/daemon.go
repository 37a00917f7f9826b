// Package daemon runs a kith node: the store, the QUIC transport serving kith.sync.v1,
// and pullers that keep friends' posts flowing in.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/kithnet/kith/peer/device"
	"github.com/kithnet/kith/peer/nat"
	"github.com/kithnet/kith/peer/reach"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/syncer"
	"github.com/kithnet/kith/peer/transport"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Config is what a node needs.
type Config struct {
	// Store is the open store; the node does not close it.
	Store *store.Store
	// PacketConn carries QUIC; the node does not close it.
	PacketConn net.PacketConn
	// Path is transport.Direct (default) or transport.Relay.
	Path string
	// Logger receives what the node has to say; slog.Default() when nil.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Retry is how long Follow waits before reconnecting to a friend; 2s when zero.
	Retry time.Duration
	// BatchSize is how many changes a pull step asks for; the server default when zero.
	BatchSize int
	// Progress, when set, is called after every stored pull step.
	Progress func(friend identity.PublicKey, step store.Applied, cursor uint64)
	// Reach, when it names Servers, is rendezvous mode: friends are found through
	// rendezvous servers and reached by hole punching or a TURN relay (PacketConn must
	// then be Reach.Mux's PacketConn). Its Key, Transport, Book, Serve, OnPath and
	// Limits are the node's; the node fills them. Nil: direct mode.
	Reach *reach.Config
	// KeepAlive is how often idle connections send a packet; 15 s when zero.
	KeepAlive time.Duration
	// Carry is what the node carries, sealed, for friends (carry.go); defaults when zero.
	Carry store.CarryPolicy
}

// Node serves the sync API and pulls from friends.
type Node struct {
	cfg    Config
	st     *store.Store
	tr     *transport.Transport
	srv    *grpc.Server
	kit    *syncer.OwnKit
	ssrv   *syncer.Server // takes friend requests that come through the rendezvous too
	puller *syncer.Puller
	log    *slog.Logger
	wg     sync.WaitGroup
	wake   chan struct{} // Follow looks at the friend list now, not at its next poll
	reach  *reach.Agent  // the paths to friends and strangers
	// invites are the join codes `kith device add` handed out (owndevices.go).
	invites *device.Invites

	mu    sync.Mutex
	paths map[identity.ID]string // the path each friend's last sync took

	carry carrying // parcels carried for friends (carry.go)
}

// Start opens the transport on cfg.PacketConn and starts serving.
func Start(cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Retry == 0 {
		cfg.Retry = 2 * time.Second
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = nat.DefaultKeepalive
	}
	sg, err := cfg.Store.Signer()
	if err != nil {
		return nil, err
	}
	devID, err := sg.DeviceID()
	if err != nil {
		return nil, err
	}
	key := sg.Key
	isFriend := func(k identity.PublicKey) bool { _, err := cfg.Store.Friend(k); return err == nil }
	// Friends get more room than strangers: connections (transport.Limits) and calls (streams.go).
	tr, err := transport.New(transport.Config{Key: key, DeviceCertificate: sg.Certificate, PacketConn: cfg.PacketConn, Path: cfg.Path, Logger: cfg.Logger, Now: cfg.Now,
		KeepAlive: cfg.KeepAlive, IdleTimeout: max(30*time.Second, 3*cfg.KeepAlive), Limits: transport.Limits{Friend: isFriend},
		Revoked: revokedIn(cfg.Store, cfg.Logger)})
	if err != nil {
		return nil, err
	}
	ln, err := tr.Listen()
	if err != nil {
		tr.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	srv := grpc.NewServer(serverOptions(isFriend)...)
	ssrv := syncer.NewServer(cfg.Store, cfg.Logger)
	invites := device.NewInvites(nil)
	ssrv.SetInvites(invites)
	syncv1.RegisterSyncServiceServer(srv, ssrv)
	n := &Node{
		cfg: cfg, st: cfg.Store, tr: tr, srv: srv, invites: invites, kit: ssrv.Kit(), ssrv: ssrv, log: cfg.Logger, wake: make(chan struct{}, 1),
		puller: syncer.NewPuller(syncer.PullerConfig{Store: cfg.Store, Logger: cfg.Logger, BatchSize: cfg.BatchSize, Progress: cfg.Progress}),
	}
	var rc reach.Config
	if cfg.Reach != nil {
		rc = *cfg.Reach
	}
	rc.Key, rc.DeviceID, rc.DeviceCertificate = key, devID, sg.Certificate
	rc.Transport, rc.Book, rc.Serve, rc.Limits = tr, book{n}, n.serve, transport.Limits{Friend: isFriend}
	rc.Revoked = revokedIn(cfg.Store, cfg.Logger)
	rc.JoinOffer = invites.OfferProof
	rc.OwnDevice = cfg.Store.IsOwnDevice
	rc.OnPath = func(identity.PublicKey) { n.Wake() }
	if rc.Logger == nil {
		rc.Logger = cfg.Logger
	}
	if rc.KeepAlive == 0 {
		rc.KeepAlive = cfg.KeepAlive
	}
	if n.reach, err = reach.New(rc); err != nil {
		tr.Close()
		return nil, err
	}
	n.serve(ln)
	return n, nil
}

// isFriend reports whether k is a friend now.
func (n *Node) isFriend(k identity.PublicKey) bool {
	_, err := n.st.Friend(k)
	return err == nil
}

// serve serves the sync API on ln until the node closes.
func (n *Node) serve(ln net.Listener) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) && !errors.Is(err, net.ErrClosed) {
			n.log.Error("sync server stopped", "err", err)
		}
	}()
}

// notePath remembers the path of the live connection to id, for lastPath.
func (n *Node) notePath(id identity.ID) {
	for _, p := range n.Peers() {
		if p.ID == id {
			n.mu.Lock()
			if n.paths == nil {
				n.paths = map[identity.ID]string{}
			}
			n.paths[id] = p.Path
			n.mu.Unlock()
			return
		}
	}
}

// lastPath is the path the last sync with id took, "" when none is known.
func (n *Node) lastPath(id identity.ID) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paths[id]
}

// Traverse keeps the node reachable through its rendezvous servers until ctx ends: a
// registration with fresh candidates, offers answered. It returns at once in direct mode.
func (n *Node) Traverse(ctx context.Context) { n.reach.Run(ctx) }

// RendezvousStatus describes the node's use of a rendezvous for `kith status`.
func (n *Node) RendezvousStatus() *localv1.RendezvousStatus { return n.reach.Status() }

// Peers lists the live connections on every transport, a relay's remote marked as such.
func (n *Node) Peers() []transport.Peer { return n.reach.Peers() }

// Transport returns the node's transport (for `kith status`: Peers).
func (n *Node) Transport() *transport.Transport { return n.tr }

// Addr returns the address the node listens on.
func (n *Node) Addr() net.Addr { return n.tr.Addr() }

// Close stops serving and waits for the node's goroutines; the caller first cancels the
// context given to Follow.
func (n *Node) Close() error {
	n.srv.Stop()
	n.reach.Close()
	err := n.tr.Close()
	n.wg.Wait()
	return err
}

// reachable reports whether the node knows how to look for f.
func (n *Node) reachable(f store.Friend) bool { return f.Addr != "" || n.reach.Rendezvous() }

// client connects to a friend (or, from Dial, any peer) over the path reach chooses.
func (n *Node) client(ctx context.Context, f store.Friend) (*reach.Conn, error) {
	return n.reach.Dial(ctx, reach.Target{Key: f.Key, Addr: f.Addr, Name: f.Name})
}

// Sync pulls one friend's feed to the end, once.
func (n *Node) Sync(ctx context.Context, f store.Friend) (syncer.Result, error) {
	cc, err := n.client(ctx, f)
	if err != nil {
		return syncer.Result{}, n.unanswered(ctx, f, err)
	}
	c := syncv1.NewSyncServiceClient(cc)
	var acks []*syncv1.ParcelAck
	defer func() { n.closeAfterAcks(cc, c, acks) }()
	// A sync's calls go out side by side where they need nothing of each other: a round
	// trip per group, not per call. The friend request and the device revocations go
	// with the first changes; the parcels, kit, reachability and outbox calls (the
	// tail) go as soon as the first changes say the friend counts us as one, beside the
	// rest of the pull.
	var introduced, early sync.WaitGroup
	introduced.Go(func() { n.introduce(ctx, c, f) })
	devices := make(chan struct{})
	go func() {
		defer close(devices)
		n.fetchDevices(ctx, c, f) // the pull verifies nothing before: it refuses what a revoked device signed
	}()
	var carry *syncer.CarryResult
	tail := func(limit int) {
		concurrently(limit,
			func() { carry, acks = n.readParcels(ctx, c, f) },
			func() { n.fetchKit(ctx, c, f) },
			func() { n.fetchReach(ctx, c, f) },
			func() { n.deliverOutbox(ctx, c, f) })
	}
	started := false
	res, err := n.puller.PullWith(ctx, c, f.Key, syncer.PullHooks{Ready: devices, Answered: func(stranger bool) {
		if !stranger {
			started = true
			early.Go(func() { tail(tailCalls) })
		}
	}})
	introduced.Wait()
	<-devices
	if !started && err == nil {
		// A node that counts us a stranger answers 4 calls of ours at once
		// (strangerStreamsPerKey): with a Watch of ours on another connection, 3.
		tail(strangerStreamsPerKey - 1)
	}
	early.Wait()
	res.Carry = carry
	if err == nil {
		n.answeredAsFriend(f, res)
		n.notePath(f.Key.ID()) // while the sync's connection is still up
	}
	return res, err
}

// closeAfterAcks closes a sync's connection once the friend has been shown the
// acknowledgements of the parcels the sync read (at most ackTimeout later): the sync
// does not wait the round trip, the connection outlives it a little. The goroutine
// touches no store; the node's Close ends it with the transport.
func (n *Node) closeAfterAcks(cc io.Closer, c syncv1.SyncServiceClient, acks []*syncv1.ParcelAck) {
	if len(acks) == 0 {
		cc.Close()
		return
	}
	go func() {
		defer cc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
		defer cancel()
		n.puller.AckCarrier(ctx, c, acks)
	}()
}

// ackTimeout bounds how long a sync's connection stays up for its parcels' acknowledgements.
const ackTimeout = 10 * time.Second

// tailCalls is how many of a sync's tail calls go at once to a friend who counts us as
// one: all four, beside at most three of the pull's, within friendStreamsPerKey.
const tailCalls = 4

// concurrently runs fns, at most limit at a time, and returns when all have.
func concurrently(limit int, fns ...func()) {
	slots := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for _, fn := range fns {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			fn()
		})
	}
	wg.Wait()
}

// SyncAll pulls every friend that has an address, once. It returns the friends that
// could not be synced, joined.
func (n *Node) SyncAll(ctx context.Context) error {
	n.SyncDevices(ctx)
	fs, err := n.st.Friends()
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range fs {
		if !n.reachable(f) {
			continue
		}
		res, err := n.Sync(ctx, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n.log.Info("synced", "friend", f.Key.ID(), "name", f.Name, "stored", res.Stored, "dropped", res.Dropped, "blobs", res.Blobs, "cursor", res.Cursor)
	}
	return errors.Join(errs...)
}

// Recover asks one friend for every own post it holds.
func (n *Node) Recover(ctx context.Context, f store.Friend) (store.Recovery, error) {
	defer n.asHelper(f.Key)()
	cc, err := n.client(ctx, f)
	if err != nil {
		return store.Recovery{}, err
	}
	defer cc.Close()
	self, err := n.st.Self()
	if err != nil {
		return store.Recovery{}, err
	}
	return n.puller.Recover(ctx, syncv1.NewSyncServiceClient(cc), self)
}

// asHelper has reach treat k as a friend while a recovery asks it (ExpectAnswer).
func (n *Node) asHelper(k identity.PublicKey) (done func()) { return n.reach.ExpectAnswer(k) }

// RecoverKit asks one friend for the copy of the own recovery kit it keeps (nil when it
// keeps none).
func (n *Node) RecoverKit(ctx context.Context, f store.Friend) (*signedv1.Envelope, error) {
	defer n.asHelper(f.Key)()
	cc, err := n.client(ctx, f)
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	return n.puller.RecoverKit(ctx, syncv1.NewSyncServiceClient(cc))
}

// kitSettle is how long pushing waits after a change for more: a burst of posts or
// friend changes goes out as one kit.
const kitSettle = 200 * time.Millisecond

// pushKits hands friend f, over c, this node's recovery kit now and again each time it
// changes, until ctx ends: a friend connected when a friend was removed or a post's
// audience changed holds the kit that says so, not an older one.
func (n *Node) pushKits(ctx context.Context, c syncv1.SyncServiceClient, f store.Friend) {
	var pushed time.Time
	for {
		changed := n.st.KitChanged()
		env, rev, err := n.kit.Envelope()
		switch {
		case err != nil:
			n.log.Warn("could not seal the recovery kit", "err", err)
		case !n.stillFriend(f.Key):
			return // removed while followed: the new kit (which leaves it out) is not its to keep
		case rev.After(pushed):
			if _, err := c.PushRecoveryKit(ctx, &syncv1.PushRecoveryKitRequest{Kit: env}); err != nil {
				if ctx.Err() == nil {
					n.log.Warn("could not push the recovery kit", "friend", f.Key.ID(), "err", err)
				}
			} else {
				pushed = rev
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(kitSettle):
		}
	}
}

// stillFriend says whether k is a friend now; a store error counts as no.
func (n *Node) stillFriend(k identity.PublicKey) bool {
	_, err := n.st.Friend(k)
	return err == nil
}

// fetchKit keeps the friend's newest recovery kit; failing to is logged, never fatal.
func (n *Node) fetchKit(ctx context.Context, c syncv1.SyncServiceClient, f store.Friend) {
	if _, err := n.puller.FetchKit(ctx, c, f.Key); err != nil && ctx.Err() == nil {
		n.log.Warn("could not keep a friend's recovery kit", "friend", f.Key.ID(), "err", err)
	}
}

// Follow keeps every friend with an address watched until ctx ends, reconnecting after
// failures. It looks at the friend list every Retry: new friends are followed, removed
// ones dropped, and a changed address is followed anew.
func (n *Node) Follow(ctx context.Context) {
	type watcher struct {
		addr   string
		cancel context.CancelFunc
	}
	var wg sync.WaitGroup
	running := map[identity.PublicKey]watcher{}
	defer func() {
		for _, w := range running {
			w.cancel()
		}
		wg.Wait()
	}()
	for {
		fs, err := n.st.Friends()
		if err != nil {
			n.log.Error("list friends", "err", err)
		}
		seen := map[identity.PublicKey]bool{}
		for _, f := range fs {
			seen[f.Key] = true
			if w, ok := running[f.Key]; ok && w.addr == f.Addr {
				continue
			} else if ok {
				w.cancel()
				delete(running, f.Key)
			}
			if !n.reachable(f) {
				continue
			}
			fctx, cancel := context.WithCancel(ctx)
			running[f.Key] = watcher{f.Addr, cancel}
			wg.Add(1)
			go func() {
				defer wg.Done()
				n.follow(fctx, f)
			}()
		}
		for k, w := range running {
			if !seen[k] {
				w.cancel()
				delete(running, k)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(n.cfg.Retry):
		case <-n.wake:
		}
	}
}

// Wake makes Follow pick up a changed friend list now rather than at its next poll.
func (n *Node) Wake() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *Node) follow(ctx context.Context, f store.Friend) {
	for ctx.Err() == nil {
		var upgraded atomic.Bool
		err := func() error {
			cc, err := n.client(ctx, f)
			if err != nil {
				return n.unanswered(ctx, f, err)
			}
			defer cc.Close()
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			// Through a relay, reach keeps looking for a direct path; once one proves
			// itself, the Watch ends and the loop reconnects on it.
			go func() {
				select {
				case <-cc.Better():
					upgraded.Store(true)
					cancel()
				case <-wctx.Done():
				}
			}()
			c := syncv1.NewSyncServiceClient(cc)
			n.introduce(wctx, c, f)
			n.fetchDevices(wctx, c, f)
			n.fetchKit(wctx, c, f)
			n.fetchReach(wctx, c, f)
			n.deliverOutbox(wctx, c, f)
			var kits sync.WaitGroup
			defer kits.Wait()
			defer cancel()
			kits.Add(2)
			go func() {
				defer kits.Done()
				n.pushKits(wctx, c, f)
			}()
			go func() {
				defer kits.Done()
				n.followParcels(wctx, c, f)
			}()
			return n.puller.Watch(wctx, c, f.Key)
		}()
		if upgraded.Load() {
			continue // reconnect now, on the direct path
		}
		if err != nil && ctx.Err() == nil {
			n.log.Warn("following a friend", "friend", f.Key.ID(), "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(n.cfg.Retry):
		}
	}
}
