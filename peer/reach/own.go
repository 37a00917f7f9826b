package reach

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/kithnet/kith/peer/discovery"
	"github.com/kithnet/kith/peer/nat"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// Own devices (issue 16; docs/DESIGN.md "Own devices reach each other through the
// rendezvous"): the person's devices pull each other. A device is dialled at a path
// proved to it, at the address it was last reached at, and else through the
// rendezvous: a CONNECT offer routed to that device alone, its ANSWER, punching. The
// other side answers only a device its own list holds, unrevoked (onOffer).

// ErrOtherDevice means the handshake at a device's address showed another key of the
// person than the device dialled.
var ErrOtherDevice = errors.New("answered with another key of ours")

// ErrSelf means a device was asked to dial itself.
var ErrSelf = errors.New("is this device")

// Device is one of this person's other devices, as the node's device list has it.
type Device struct {
	// Key is the device's key (the identity key for the device that holds it).
	Key identity.PublicKey
	// Certificate is its device certificate; nil for the identity holder.
	Certificate *signedv1.Envelope
	// Addr is the host:port it was last reached at, or reached us from; "" when none.
	Addr string
	// Name names it in errors.
	Name string
}

func (d Device) String() string {
	if d.Name == "" {
		return "own device " + d.Key.Short()
	}
	return "own device " + d.Name
}

// ownDevice reports whether k may reach us as a device of our own person (Config.OwnDevice).
func (a *Agent) ownDevice(k identity.PublicKey) bool {
	return a.cfg.OwnDevice != nil && a.cfg.OwnDevice(k)
}

// DialDevice connects to d, another device of this person: on the best path proved to
// it earlier, then (while a rendezvous answers) through an offer to that device alone,
// then at d.Addr. Every path is proved by a handshake that shows the person's chain for exactly
// d.Key; when no direct path is found, a TURN relay (relayOwn).
func (a *Agent) DialDevice(ctx context.Context, d Device) (*Conn, error) {
	if d.Key == a.cfg.Key.Public() {
		return nil, fmt.Errorf("%s %w", d, ErrSelf)
	}
	rec, err := a.ownRecord(d)
	if err != nil {
		return nil, err
	}
	var errs []error
	if p, ok := a.bestPath(d.Key); ok {
		c, err := a.dialOwn(ctx, d.Key, p)
		if err == nil {
			return c, nil
		}
		a.forget(d.Key, p)
		errs = append(errs, err)
	}
	// Callee first, for our own devices too: while the rendezvous answers, the kept
	// address (where the device was at the join, or last time) gets no packet before
	// the device answers an offer. A stray Initial there can leave a conntrack entry on
	// the device's router (one without an input firewall) that moves the device's
	// mapping towards us to another port, and the punch that follows fails. The kept
	// address is tried only without a rendezvous, with one that is down, or when the
	// offer found nothing.
	if a.disc != nil && !a.rendezvousDown() {
		c, err := a.findOwn(ctx, d, rec)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	if d.Addr != "" {
		addr, err := net.ResolveUDPAddr("udp", d.Addr)
		if err == nil {
			var c *Conn
			if c, err = a.dialOwn(ctx, d.Key, &path{tr: a.cfg.Transport, addr: addr, kind: Direct}); err == nil {
				return c, nil
			}
		}
		errs = append(errs, fmt.Errorf("at %s: %w", d.Addr, err))
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%s %w", d, ErrNoAddress)
	}
	return nil, fmt.Errorf("%s: %w", d, errors.Join(errs...))
}

// findOwn offers to device d through the rendezvous and punches towards its answer.
func (a *Agent) findOwn(ctx context.Context, d Device, rec *discovery.DeviceRecord) (*Conn, error) {
	start := time.Now()
	o, err := a.offerOwn(ctx, d, rec)
	if err != nil {
		return nil, fmt.Errorf("through the rendezvous: %w", err)
	}
	if !o.answered {
		return nil, errors.New("did not answer through the rendezvous (offline, or it does not list this device)")
	}
	p, perr := a.punchOwn(ctx, o)
	if perr == nil {
		c, err := a.dialOwn(ctx, d.Key, p)
		if err == nil {
			a.log.Info("connected to an own device through the rendezvous", "device", d.Key.Short(), "path", p.kind, "remote", p.addr, "elapsed_ms", time.Since(start).Milliseconds())
			return c, nil
		}
		perr = fmt.Errorf("punched %s, but QUIC did not follow: %w", p.addr, err)
	}
	c, err := a.relayOwn(ctx, d, rec, o.permits)
	if err != nil {
		return nil, fmt.Errorf("punching towards %v: %w; through the relay: %w", o.cands, perr, err)
	}
	a.log.Info("connected to an own device through the rendezvous", "device", d.Key.Short(), "path", Relayed, "elapsed_ms", time.Since(start).Milliseconds())
	return c, nil
}

// punchOwn punches towards the candidates an own device answered o with, when
// punching is on.
func (a *Agent) punchOwn(ctx context.Context, o offered) (*path, error) {
	if a.cfg.PunchTimeout < 0 {
		return nil, nat.ErrNoPath
	}
	pc := nat.PunchConfig{Nonce: o.secret, Candidates: o.cands, Timeout: a.cfg.PunchTimeout, PreferIPv6: true}
	return a.punchPath(ctx, pc, a.birthdayFor(true, o.mapping, o.observed, o.cands, false))
}

// relayOwn reaches own device d through this node's TURN relay when no direct path
// was found (both behind NATs that map per destination, say): a RELAY offer routed to
// d alone (rec; nil: the identity's record), d's ping through the relay, and a
// handshake that must show exactly d. The connection serves one pull; it is not
// upgraded.
func (a *Agent) relayOwn(ctx context.Context, d Device, rec *discovery.DeviceRecord, permits []netip.AddrPort) (*Conn, error) {
	rctx, cancel := context.WithTimeout(ctx, a.cfg.RelayTimeout)
	defer cancel()
	send := func(ctx context.Context, relay *rendezvousv1.Candidate, nonce []byte) error {
		cands := []*rendezvousv1.Candidate{relay}
		if rec == nil {
			_, err := a.disc.Connect(ctx, a.person, rendezvousv1.OfferKind_OFFER_KIND_RELAY, cands, nonce)
			return err
		}
		_, err := a.disc.ConnectDevice(ctx, a.person, *rec, rendezvousv1.OfferKind_OFFER_KIND_RELAY, cands, nonce)
		return err
	}
	r, addr, c, err := a.relayVia(rctx, d.Key, a.person, permits, send)
	if err != nil {
		return nil, err
	}
	if got := c.DeviceKey(); got != d.Key {
		c.Close()
		return nil, fmt.Errorf("through relay %s: %w (%s)", addr, ErrOtherDevice, got.Short())
	}
	p := &path{tr: r.tr, addr: addr, kind: Relayed, proved: time.Now()}
	a.remember(d.Key, p)
	cc, err := clientOn(p.tr, p.addr, a.person, c)
	if err != nil {
		return nil, err
	}
	return &Conn{ClientConn: cc, kind: Relayed, better: newSignal(), stop: func() {}}, nil
}

// ownRecord checks d before anything is sent: the identity holder has no
// certificate; any other device has one from our person for exactly its key, which
// the returned record (nil for the identity) routes an offer by.
func (a *Agent) ownRecord(d Device) (*discovery.DeviceRecord, error) {
	if d.Certificate == nil {
		if d.Key != a.person {
			return nil, fmt.Errorf("%s: %w", d, device.ErrNotCertified)
		}
		return nil, nil
	}
	c, err := device.Open(d.Certificate, a.person)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d, err)
	}
	if c.Key != d.Key {
		return nil, fmt.Errorf("%s: its certificate names key %s", d, c.Key.Short())
	}
	return &discovery.DeviceRecord{Cert: c}, nil
}

// offerOwn sends a CONNECT offer to device d alone (rec routes it; nil: the
// identity's record) and waits for d's ANSWER. The device's sealed candidates open
// with our own reachability key: the person's devices share it.
func (a *Agent) offerOwn(ctx context.Context, d Device, rec *discovery.DeviceRecord) (offered, error) {
	a.waitReflexive(ctx, reflexiveWait)
	a.waitListening(ctx, listenWait)
	o := offered{secret: newNonce()}
	wait, done := a.expectAnswer(o.secret, a.person, d.Key)
	defer done()
	var reg *rendezvousv1.Registration
	if rec == nil {
		r, err := a.disc.Connect(ctx, a.person, rendezvousv1.OfferKind_OFFER_KIND_CONNECT, a.candidates(), o.secret)
		if err != nil {
			return offered{}, err
		}
		reg = r
	} else {
		r, err := a.disc.ConnectDevice(ctx, a.person, *rec, rendezvousv1.OfferKind_OFFER_KIND_CONNECT, a.candidates(), o.secret)
		if err != nil {
			return offered{}, err
		}
		reg = r.Registration
	}
	return a.awaitAnswer(ctx, d.Key, o, wait, a.ownCandidates(reg))
}

// ownCandidates are the candidates of one of our own devices' records: the public ones
// and those sealed under the person's reachability key.
func (a *Agent) ownCandidates(reg *rendezvousv1.Registration) []*rendezvousv1.Candidate {
	out := append([]*rendezvousv1.Candidate(nil), reg.GetPublicCandidates()...)
	key, err := a.cfg.Book.ReachKey()
	if err != nil || key == nil {
		return out
	}
	cs, err := discovery.OpenReachability(key, reg)
	if err != nil {
		a.log.Info("an own device's sealed candidates do not open with our reachability key (rotated since?); waiting for its answer", "err", err)
		return out
	}
	return append(out, cs...)
}

// dialOwn dials own device dev on p with a short timeout; the handshake must show the
// person's chain for exactly dev. A path that works is remembered under dev's key.
func (a *Agent) dialOwn(ctx context.Context, dev identity.PublicKey, p *path) (*Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	start := time.Now()
	c, err := p.tr.Dial(dctx, p.addr, a.person)
	cancel()
	if err != nil {
		return nil, err
	}
	if got := c.DeviceKey(); got != dev {
		c.Close()
		return nil, fmt.Errorf("%s %w (%s)", p.addr, ErrOtherDevice, got.Short())
	}
	q := *p
	q.proved = time.Now()
	if q.rtt == 0 {
		q.rtt = time.Since(start) / 2
	}
	a.remember(dev, &q)
	return a.conn(a.person, &q, c, newSignal())
}

// Remote is the address of the best direct path proved to k, "" when none is.
func (a *Agent) Remote(k identity.PublicKey) string {
	if p, ok := a.bestPath(k); ok && !p.relayed() {
		if ua, ok := p.addr.(*net.UDPAddr); ok {
			return unmapped(ua.AddrPort()).String()
		}
	}
	return ""
}
