package daemon

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/kithnet/kith/peer/nat"
	"github.com/kithnet/kith/peer/transport"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/shared/identity"
)

// relayed is a TURN allocation for one friend, with a transport (path "relay") that
// dials and serves the sync API through it.
type relayed struct {
	relay  *nat.Relay
	tr     *transport.Transport
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

func (r *relayed) close() {
	r.once.Do(func() {
		r.cancel()
		r.tr.Close()
		r.wg.Wait()
		r.relay.Close()
	})
}

// relay allocates a TURN relay from the node's socket, lets the friend's addresses in,
// sends the relay address to the friend in a signed RELAY offer and waits for the
// friend's ping through it, which tells where the relay sees the friend; QUIC is then
// dialled there through the relay.
func (t *traversal) relay(ctx context.Context, friend identity.PublicKey, cands []netip.AddrPort) (*relayed, net.Addr, *transport.Conn, error) {
	creds, err := t.disc.TurnCredentials(ctx)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("TURN credentials: %w", err)
	}
	server, err := serviceAddr(creds.GetUris(), "turn:", t.disc.Status().Server)
	if err != nil {
		return nil, nil, nil, err
	}
	rl, err := t.cfg.Mux.AllocateTURN(ctx, nat.TURNConfig{Server: server, Username: creds.GetUsername(), Password: creds.GetPassword()})
	if err != nil {
		return nil, nil, nil, err
	}
	tr, err := transport.New(transport.Config{Key: t.key, PacketConn: rl.Conn, Path: transport.Relay, Logger: t.log,
		KeepAlive: t.node.cfg.KeepAlive, IdleTimeout: max(30*time.Second, 3*t.node.cfg.KeepAlive)})
	if err != nil {
		rl.Close()
		return nil, nil, nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &relayed{relay: rl, tr: tr, cancel: cancel}
	ln, err := tr.Listen()
	if err != nil {
		r.close()
		return nil, nil, nil, err
	}
	t.node.serve(ln) // the friend pulls from us through the relay too
	nonce := newNonce()
	seen := make(chan net.Addr, 1)
	r.wg.Add(1)
	go func() { defer r.wg.Done(); answerPings(rctx, tr, nonce, seen) }()

	for _, c := range cands { // a permission for each of the friend's IPs
		_, _ = rl.Conn.WriteTo([]byte{0}, net.UDPAddrFromAddrPort(c))
	}
	cand := &rendezvousv1.Candidate{Address: rl.Addr.String(), Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_RELAY}
	if _, err := t.disc.Connect(ctx, friend, rendezvousv1.OfferKind_OFFER_KIND_RELAY, []*rendezvousv1.Candidate{cand}, nonce); err != nil {
		r.close()
		return nil, nil, nil, fmt.Errorf("sending the relay address: %w", err)
	}
	var addr net.Addr
	select {
	case addr = <-seen:
	case <-ctx.Done():
		r.close()
		return nil, nil, nil, fmt.Errorf("the friend did not answer through relay %s: %w", rl.Addr, ctx.Err())
	}
	c, err := tr.Dial(ctx, addr, friend)
	if err != nil {
		r.close()
		return nil, nil, nil, err
	}
	t.mu.Lock()
	old := t.relays[friend]
	t.relays[friend] = r
	t.mu.Unlock()
	if old != nil {
		old.close()
	}
	return r, addr, c, nil
}

// answerPings answers punch pings for nonce that arrive through the relay, and reports
// the first one's source: the friend as the relay sees it.
func answerPings(ctx context.Context, tr *transport.Transport, nonce []byte, seen chan<- net.Addr) {
	buf := make([]byte, 1500)
	for {
		n, from, err := tr.ReadNonQUICPacket(ctx, buf)
		if err != nil {
			return
		}
		p, err := nat.ParsePacket(buf[:n])
		if err != nil || p.Kind != nat.Ping || !p.Verify(nonce) {
			continue
		}
		pong := nat.Packet{Kind: nat.Pong, Session: p.Session, Tx: p.Tx}
		pong.Sign(nonce)
		_, _ = tr.WriteTo(pong.Marshal(), from)
		select {
		case seen <- from:
		default:
		}
	}
}

// serviceAddr is the address of the first usable URI with the scheme ("stun:" or
// "turn:"); a loopback or unspecified host there means the rendezvous' own host.
func serviceAddr(uris []string, scheme, rendezvous string) (netip.AddrPort, error) {
	for _, u := range uris {
		hp, _, _ := strings.Cut(strings.TrimPrefix(u, scheme), "?")
		host, port, err := net.SplitHostPort(hp)
		if err != nil || !strings.HasPrefix(u, scheme) {
			continue
		}
		if ip, err := netip.ParseAddr(host); err == nil && (ip.IsLoopback() || ip.IsUnspecified()) {
			if rh, _, err := net.SplitHostPort(rendezvous); err == nil {
				if rip, err := netip.ParseAddr(rh); err == nil && !rip.IsLoopback() {
					host = rh
				}
			}
		}
		a, err := net.ResolveUDPAddr("udp4", net.JoinHostPort(host, port))
		if err == nil {
			return unmapped(a.AddrPort()), nil
		}
	}
	return netip.AddrPort{}, fmt.Errorf("the rendezvous offers no usable %s URI (%v)", strings.TrimSuffix(scheme, ":"), uris)
}
