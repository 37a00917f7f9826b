package reach

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/kithnet/kith/peer/discovery"
	"github.com/kithnet/kith/peer/nat"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// answerWait bounds how long a caller waits for the callee's ANSWER. Callee first: a
// caller puts no packet on the wire towards a peer that has not answered.
const answerWait = 2 * time.Second

// listenWait bounds how long an offer waits for our own Listen stream.
const listenWait = 5 * time.Second

// waitListening waits at most d until our Listen stream is open.
func (a *Agent) waitListening(ctx context.Context, d time.Duration) {
	deadline := time.Now().Add(d)
	for !a.disc.Status().Listening && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
}

// escalateAfter is how long a callee sends only openers before it pings the caller at
// full TTL (a full cone facing our symmetric NAT needs that; by then the caller's own
// pings, when they can come, have come).
const escalateAfter = time.Second

// strangerOffersPerMinute bounds how many strangers' offers a node answers by punching:
// an offer makes the node send packets to addresses the stranger chose.
const strangerOffersPerMinute = 20

// answerWaiter is an attempt waiting for the ANSWER of the peer it offered to.
type answerWaiter struct {
	from identity.PublicKey
	// device, when not zero, is the one key whose answer counts (an offer to one of
	// our own devices: another device of ours must not take its place).
	device identity.PublicKey
	ch     chan discovery.Offer
}

// offered is a CONNECT offer sent and what came back.
type offered struct {
	secret []byte
	// cands are the peer's addresses to punch towards: its ANSWER's and those of its
	// record we may read.
	cands []netip.AddrPort
	// permits are the addresses a TURN relay must let in for the peer: every
	// candidate known and the source the rendezvous saw the peer's answer come from.
	permits []netip.AddrPort
	// answered says the peer answered: only then may we send it anything.
	answered bool
	// mapping is how the peer's NAT maps, as its ANSWER says; observed is where the
	// rendezvous saw the ANSWER come from (the birthday method needs both).
	mapping  rendezvousv1.Mapping
	observed string
}

// offer sends a CONNECT offer with a fresh punch secret to k and waits (at most
// answerWait) for k's ANSWER, signed and sealed, with fresh candidates. A stranger
// whose record publishes nothing is not even offered to: ErrPrivate.
func (a *Agent) offer(ctx context.Context, k identity.PublicKey, secret []byte, opened netip.AddrPort) (offered, error) {
	if !a.friendly(k) {
		reg, err := a.disc.Lookup(ctx, k)
		if err != nil {
			return offered{}, err
		}
		if len(reg.GetPublicCandidates()) == 0 {
			return offered{}, fmt.Errorf("peer %s %w", k.Short(), ErrPrivate)
		}
	}
	// An offer made right after the node started waits (a little) for the reflexive
	// address: without it the callee's openers have nowhere useful to go.
	a.waitReflexive(ctx, reflexiveWait)
	// The ANSWER comes through our Listen stream: an offer made before it is open
	// (right after start) waits for it, a little.
	a.waitListening(ctx, listenWait)
	o := offered{secret: secret}
	if o.secret == nil {
		o.secret = newNonce()
	}
	wait, done := a.expectAnswer(o.secret, k, identity.PublicKey{})
	defer done()
	// The offer goes to the person's identity and to each of its devices online (issue
	// 16): whichever answers first is the one we reach. The identity may have no record
	// (its holder is offline) and the devices' candidates may be sealed to a key we
	// lack: an offer that reached any record is still worth waiting for an answer to.
	// Both at once: the devices' lookup is a round trip to the rendezvous of its own,
	// which would otherwise come after the CONNECT's and delay the wait for the answer.
	type devOffers struct {
		cands []*rendezvousv1.Candidate
		sent  int
	}
	devCh := make(chan devOffers, 1)
	go func() {
		c, n := a.offerDevices(ctx, k, o.secret)
		devCh <- devOffers{c, n}
	}()
	stage(ctx, "offer sent")
	var (
		reg *rendezvousv1.Registration
		err error
	)
	if opened.IsValid() { // dialback.go: our openers went there
		reg, err = a.disc.ConnectOpened(ctx, k, a.candidates(), o.secret, opened)
	} else {
		reg, err = a.disc.Connect(ctx, k, rendezvousv1.OfferKind_OFFER_KIND_CONNECT, a.candidates(), o.secret)
	}
	if err == nil {
		stage(ctx, "offer delivered")
		relayGranted(ctx) // relayprep.go: the rendezvous lets us allocate now
	}
	d := <-devCh
	devs, sent := d.cands, d.sent
	if sent > 0 {
		relayGranted(ctx)
	}
	if err != nil && sent == 0 {
		return offered{}, err
	}
	var readable []*rendezvousv1.Candidate
	if err == nil {
		readable = a.peerCandidates(k, reg)
	}
	return a.awaitAnswer(ctx, k, o, wait, append(readable, devs...))
}

// expectAnswer registers an attempt waiting for the ANSWER to an offer with secret:
// from person k, and when dev is not zero from exactly that device key. done
// unregisters it.
func (a *Agent) expectAnswer(secret []byte, k, dev identity.PublicKey) (<-chan discovery.Offer, func()) {
	wait := make(chan discovery.Offer, 1)
	a.mu.Lock()
	a.answers[string(secret)] = answerWaiter{from: k, device: dev, ch: wait}
	a.mu.Unlock()
	return wait, func() {
		a.mu.Lock()
		delete(a.answers, string(secret))
		a.mu.Unlock()
	}
}

// awaitAnswer waits (at most answerWait) for k's ANSWER on wait and completes o: the
// candidates to punch (the answer's first, then readable, those of its records we may
// read) and the addresses a relay must let in.
func (a *Agent) awaitAnswer(ctx context.Context, k identity.PublicKey, o offered, wait <-chan discovery.Offer, readable []*rendezvousv1.Candidate) (offered, error) {
	timer := time.NewTimer(answerWait)
	defer timer.Stop()
	select {
	case ans := <-wait:
		stage(ctx, "answer received")
		o.answered, o.mapping, o.observed = true, ans.Offer.GetMapping(), ans.Observed
		readable = append(ans.Offer.GetCandidates(), readable...)
		if ap, err := netip.ParseAddrPort(ans.Observed); err == nil {
			o.permits = append(o.permits, unmapped(ap))
		}
	case <-timer.C:
		a.log.Info("no answer to an offer in time: sending the peer nothing", "peer", k.ID())
	case <-ctx.Done():
		return offered{}, ctx.Err()
	}
	o.cands = addrs(readable, directTypes...)
	o.permits = append(o.permits, o.cands...)
	return o, nil
}

// answered hands a friend's ANSWER to the attempt that waits for it: only one whose
// secret matches and that offered to the key that signed the answer.
func (a *Agent) answered(o discovery.Offer) {
	a.mu.Lock()
	w, ok := a.answers[string(o.Offer.GetPunchSecret())]
	a.mu.Unlock()
	if !ok || w.from != o.Person || (w.device != identity.PublicKey{} && w.device != o.From) {
		a.log.Debug("ignored an answer nobody waits for", "from", o.From.ID())
		return
	}
	select {
	case w.ch <- o:
	default:
	}
}

// answer sends a peer whose offer we take our fresh candidates, signed and sealed to
// it, with the offer's punch secret: a friend may not hold our current reachability key
// (new, or we rotated it since), and the caller sends nothing before it has this.
func (a *Agent) answer(ctx context.Context, o discovery.Offer, secret []byte) {
	err := a.reply(ctx, o, rendezvousv1.OfferKind_OFFER_KIND_ANSWER, a.candidates(), secret)
	if err != nil && ctx.Err() == nil {
		a.log.Info("could not answer a friend's offer", "friend", o.Person.ID(), "err", err)
	}
}

// reply sends the sender of o an offer of kind with cands: to its person's identity,
// or, when a device of it offered, to that device alone, by its id.
func (a *Agent) reply(ctx context.Context, o discovery.Offer, kind rendezvousv1.OfferKind, cands []*rendezvousv1.Candidate, secret []byte) error {
	if o.From == o.Person {
		_, err := a.disc.Connect(ctx, o.From, kind, cands, secret)
		return err
	}
	c, err := device.Open(o.Offer.GetDeviceCertificate(), o.Person)
	if err != nil {
		return err
	}
	_, err = a.disc.ConnectDevice(ctx, o.Person, discovery.DeviceRecord{Cert: c}, kind, cands, secret)
	return err
}

// offerDevices sends the CONNECT offer with secret to every device of k registered
// now (but this node itself) and returns the candidates of theirs we may read and how
// many offers it sent.
func (a *Agent) offerDevices(ctx context.Context, k identity.PublicKey, secret []byte) ([]*rendezvousv1.Candidate, int) {
	var revoked []device.Revocation
	if a.cfg.Revoked != nil {
		var err error
		if revoked, err = a.cfg.Revoked(k); err != nil {
			return nil, 0
		}
	}
	ds, err := a.disc.LookupDevices(ctx, k, revoked)
	if err != nil {
		return nil, 0
	}
	// All at once: each offer is a round trip to the rendezvous, and a person's
	// devices in series would hold the wait for the answer back by one per device.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		out  []*rendezvousv1.Candidate
		sent int
	)
	for _, d := range ds {
		if d.Cert.Key == a.cfg.Key.Public() {
			continue
		}
		wg.Go(func() {
			r, err := a.disc.ConnectDevice(ctx, k, d, rendezvousv1.OfferKind_OFFER_KIND_CONNECT, a.candidates(), secret)
			if err != nil {
				a.log.Debug("could not offer to a device", "person", k.ID(), "device", fmt.Sprintf("%x", d.Cert.ID), "err", err)
				return
			}
			cs := a.peerCandidates(k, r.Registration)
			mu.Lock()
			defer mu.Unlock()
			sent++
			out = append(out, cs...)
		})
	}
	wg.Wait()
	return out, sent
}

// onOffer answers a verified offer from the Listen stream: punch towards the caller's
// candidates (answering any address its pings come from), or, for a relay offer, ping
// the caller's relay so our NAT lets the relay in and the caller learns where we are.
func (a *Agent) onOffer(o discovery.Offer) {
	offer := o.Offer
	switch offer.GetKind() {
	case rendezvousv1.OfferKind_OFFER_KIND_ANSWER:
		a.answered(o)
		return
	case rendezvousv1.OfferKind_OFFER_KIND_RELAY_ANSWER:
		a.relayAnswered(o)
		return
	case rendezvousv1.OfferKind_OFFER_KIND_FRIEND_REQUEST: // issue 18: the node keeps it
		a.cfg.Book.FriendRequest(o.From, offer.GetFriendRequest())
		return
	case rendezvousv1.OfferKind_OFFER_KIND_CONNECT, rendezvousv1.OfferKind_OFFER_KIND_RELAY:
	default:
		a.log.Info("ignored an offer of a kind this node does not answer", "from", o.From.ID(), "kind", offer.GetKind())
		return
	}
	if a.revokedDevice(o) {
		a.log.Warn("ignored an offer from a revoked device", "person", o.Person.ID(), "device_key", o.From.Short())
		return
	}
	own := o.Person == a.person
	if own && !a.ownDevice(o.From) {
		// A device of ours that our list does not hold, or holds revoked, learns none of
		// our addresses: its certificate alone is not enough.
		a.log.Warn("ignored an offer from a device of ours that is not in the device list, or is revoked", "device_key", o.From.Short())
		return
	}
	if !own && !a.cfg.Book.IsFriend(o.Person) && !a.joinOffer(offer.GetPunchSecret()) && !a.answerStranger() {
		a.log.Info("ignored an offer from a stranger (no published addresses or nothing public here, or too many strangers this minute)", "from", o.From.ID())
		return
	}
	a.spawn(func(ctx context.Context) {
		relay := offer.GetKind() == rendezvousv1.OfferKind_OFFER_KIND_RELAY
		pc := nat.PunchConfig{Nonce: offer.GetPunchSecret(), Candidates: addrs(offer.GetCandidates(), directTypes...),
			Timeout: max(a.cfg.PunchTimeout, time.Second) + answerWait, PreferIPv6: true}
		if relay {
			// The relay is a public server: pinging it at full TTL plants nothing.
			pc.Candidates, pc.Timeout = addrs(offer.GetCandidates(), rendezvousv1.CandidateType_CANDIDATE_TYPE_RELAY), a.cfg.RelayTimeout
		} else {
			// Callee first: openers (our NATs open, the caller's router untouched),
			// then the ANSWER; full pings only to where the caller's pings come from,
			// or, after escalateAfter, to every candidate.
			pc.OpenerTTL, pc.Escalate = a.openerTTL(), escalateAfter
			if a.dialsBack(o) {
				// First: the dial-back needs none of our openers (its Initial leaves from
				// the address the caller opened its NAT towards, and opens ours), and the
				// caller's connection waits on nothing else.
				a.spawn(func(ctx context.Context) { a.dialBack(ctx, o) }) // dialback.go
			}
			pc.Opened = func() {
				a.spawn(func(ctx context.Context) { a.answer(ctx, o, offer.GetPunchSecret()) })
			}
			if a.answersWithRelay(o) {
				a.spawn(func(ctx context.Context) { a.relayAnswer(ctx, o) }) // relayanswer.go
			}
		}
		var b birthday
		if !relay {
			b = a.birthdayFor(own || a.friendly(o.Person), offer.GetMapping(), o.Observed, pc.Candidates, true)
		}
		p, err := a.punchPath(ctx, pc, b)
		if err != nil {
			a.log.Info("answering an offer found no path", "friend", o.From.ID(), "relay", relay, "err", err)
			return
		}
		if relay {
			p.kind = Relayed
		}
		// Paths to our own devices are kept per device key: each is a peer of its own.
		at := o.Person
		if own {
			at = o.From
		}
		a.remember(at, p)
		a.log.Info("answered an offer", "friend", o.Person.ID(), "relay", relay, "remote", p.addr, "path", p.kind, "birthday", b.role)
		if a.cfg.OnPath != nil {
			a.cfg.OnPath(o.Person)
		}
	})
}

// answerStranger decides whether to answer an offer from a key that is not a friend:
// only when this person publishes addresses (--publish-addresses) and has a public
// post (a stranger sees nothing else, so with nothing public there is no reason to let
// one in), and at most strangerOffersPerMinute a minute.
func (a *Agent) answerStranger() bool {
	// The budget is checked before the scan for a public post, so offers past it cost
	// nothing; it is spent only on offers answered.
	if !a.cfg.PublishAddresses || !a.strangerBudget(false) || !a.cfg.Book.HasPublic() {
		return false
	}
	return a.strangerBudget(true)
}

// strangerBudget reports whether this minute's budget of strangers' offers has room,
// and with spend takes one from it.
func (a *Agent) strangerBudget(spend bool) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	if now.Sub(a.strangerWindow) >= time.Minute {
		a.strangerWindow, a.strangers = now, 0
	}
	if a.strangers >= strangerOffersPerMinute {
		return false
	}
	if spend {
		a.strangers++
	}
	return true
}

// joinOffer reports whether a stranger's offer proves it holds a pending join code
// (Config.JoinOffer), within the strangers' budget: it is answered like a friend's.
func (a *Agent) joinOffer(secret []byte) bool {
	return a.cfg.JoinOffer != nil && a.cfg.JoinOffer(secret) && a.strangerBudget(true)
}

// revokedDevice reports whether o comes from a device its person revoked (by the
// revocations this node holds): it gets no answer, so a lost device learns none of our
// addresses. Discovery checked the chain but not revocations (the handshake does).
func (a *Agent) revokedDevice(o discovery.Offer) bool {
	if o.From == o.Person || a.cfg.Revoked == nil {
		return false
	}
	revoked, err := a.cfg.Revoked(o.Person)
	if err != nil {
		return true // failing open would answer a device we cannot check
	}
	_, err = device.Check(o.Person, o.From, o.Offer.GetDeviceCertificate(), revoked, time.Now())
	return err != nil
}
