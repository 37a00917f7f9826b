package reach

import (
	"context"
	"strconv"
	"strings"
	"time"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
)

// A node that may need a relay keeps TURN credentials at hand (issue 20, stop 20): a
// find towards a friend then allocates without first spending a round trip to the
// rendezvous on them. The rendezvous hands out REST credentials valid for an hour by
// default; the node fetches new ones when half of that is gone, so the ones it holds
// always outlive the allocation's first half hour, as fresh ones would.
//
// Only a node whose NAT is not known to map endpoint-independently keeps them: behind
// such a NAT a find nearly always ends direct (see prepares), and a credentials call
// every half hour from every such node would cost the rendezvous for nothing.

// credsRetry is how soon a failed fetch of TURN credentials is tried again.
const credsRetry = 5 * time.Second

// credsUnregistered is how soon the node looks again when it is not registered (yet):
// a sync right after the start should find credentials at hand.
const credsUnregistered = 20 * time.Millisecond

// credsRecheck is how often the node looks again whether it should keep credentials,
// beside the wake-up measureMapping gives it.
const credsRecheck = time.Minute

// heldCreds is a set of TURN credentials the node keeps, and when to replace it.
type heldCreds struct {
	resp *rendezvousv1.TurnCredentialsResponse
	// server is the rendezvous they came from: its TURN server is the one they work on
	// (their URIs), so after a failover to another instance they are not used.
	server  string
	refresh time.Time // about half their lifetime: fetch new ones from then on
	expires time.Time // no longer good for an allocation
}

// credsLife says when credentials fetched from server at now expire (the expiry in their
// username, "expiry:fingerprint"; failing that, now plus their TTL) and when to fetch
// new ones: halfway there.
func credsLife(resp *rendezvousv1.TurnCredentialsResponse, server string, now time.Time) heldCreds {
	expires := now.Add(time.Duration(resp.GetTtlSeconds()) * time.Second)
	if s, _, ok := strings.Cut(resp.GetUsername(), ":"); ok {
		if unix, err := strconv.ParseInt(s, 10, 64); err == nil {
			expires = time.Unix(unix, 0)
		}
	}
	refresh := now.Add(expires.Sub(now) / 2)
	return heldCreds{resp: resp, server: server, refresh: refresh, expires: expires}
}

// good reports whether h holds credentials from server and now is before bound (its
// expiry, to use them; its refresh time, to keep them).
func (h heldCreds) good(server string, bound time.Time) bool {
	return h.resp != nil && h.server == server && time.Now().Before(bound)
}

// keepsCreds reports whether the node keeps TURN credentials at hand: in rendezvous
// mode, unless its NAT is known to map endpoint-independently.
func (a *Agent) keepsCreds() bool {
	return a.disc != nil && a.mapping() != rendezvousv1.Mapping_MAPPING_ENDPOINT_INDEPENDENT
}

// turnCreds returns the credentials the node holds when they are still good, else
// fetches new ones (and holds them, when it keeps credentials).
func (a *Agent) turnCreds(ctx context.Context) (*rendezvousv1.TurnCredentialsResponse, error) {
	server := a.disc.Status().Server
	if h := a.held(); h.good(server, h.expires) {
		return h.resp, nil
	}
	resp, err := a.disc.TurnCredentials(ctx)
	if err != nil {
		return nil, err
	}
	if a.keepsCreds() {
		a.holdCreds(credsLife(resp, server, time.Now()))
	}
	return resp, nil
}

// forgetCreds drops the credentials held when they are resp: an allocation with them
// failed (the instance that gave them is gone, or they are refused), so the next one
// fetches afresh.
func (a *Agent) forgetCreds(resp *rendezvousv1.TurnCredentialsResponse) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.creds.resp == resp {
		a.creds = heldCreds{}
	}
}

// held returns the credentials the node holds now.
func (a *Agent) held() heldCreds {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.creds
}

// holdCreds makes h the credentials the node holds.
func (a *Agent) holdCreds(h heldCreds) {
	a.mu.Lock()
	a.creds = h
	a.mu.Unlock()
}

// keepCreds keeps the node's TURN credentials fresh, or none, and with them a primed
// allocation while the node has none (relayprime.go), until ctx ends.
func (a *Agent) keepCreds(ctx context.Context) {
	// No wait for the NAT's mapping (known a round trip after the first STUN
	// answer): a sync right after the start would find no credentials at hand. A node
	// behind an endpoint-independent NAT fetches them once, and drops them when it
	// learns its mapping.
	defer a.dropPrimed()
	for {
		wait := a.keepCredsOnce(ctx)
		a.keepPrimed(ctx)
		select {
		case <-ctx.Done():
			return
		case <-a.mappingKnown:
		case <-a.primeWake:
		case <-time.After(wait):
		}
	}
}

// keepCredsOnce fetches credentials when the node keeps them and those it holds are
// due for refresh or came from another rendezvous than the one in use, or drops them
// when it does not keep them; it returns how long to wait before it looks again.
func (a *Agent) keepCredsOnce(ctx context.Context) time.Duration {
	if !a.keepsCreds() {
		a.holdCreds(heldCreds{})
		return credsRecheck
	}
	st := a.disc.Status()
	if !st.Registered {
		return credsUnregistered // the rendezvous hands credentials only to a registered key
	}
	h := a.held()
	if !h.good(st.Server, h.refresh) {
		resp, err := a.disc.TurnCredentials(ctx)
		if err != nil {
			a.log.Debug("reach: fetching TURN credentials ahead failed; trying again",
				"err", err, "in", credsRetry)
			return credsRetry
		}
		h = credsLife(resp, st.Server, time.Now())
		a.holdCreds(h)
	}
	return min(credsRecheck, time.Until(h.refresh))
}
