package reach

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/rendezvous/turn"
)

func (a *Agent) setMapping(m rendezvousv1.Mapping) {
	a.mu.Lock()
	a.mappingKind = m
	a.mu.Unlock()
}

// credsNode is a node with a rendezvous that hands out TURN credentials.
func credsNode(t *testing.T, cfg Config) (*node, *rendezvoustest.Server) {
	t.Helper()
	rv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNAllowPrivate: true})
	return newNode(t, "alice", []string{rv.GRPC}, cfg), rv
}

// TestKeepsCredsWhenEndpointDependent: a node whose NAT maps endpoint-dependently, or
// whose mapping is unknown, fetches TURN credentials ahead and holds them; one behind
// an endpoint-independent NAT holds none (and drops those it held when it learns its
// mapping); a node in direct mode keeps none.
func TestKeepsCredsWhenEndpointDependent(t *testing.T) {
	a, _ := credsNode(t, Config{})
	ctx := context.Background()
	// Run's loop fetches them by itself (the loopback rendezvous has one STUN port:
	// the mapping stays unknown).
	waitUntil(t, "credentials held ahead", func() bool { return a.agent.held().resp != nil })
	a.agent.setMapping(ei)
	a.agent.mappingKnown <- struct{}{}
	waitUntil(t, "credentials dropped once the mapping is endpoint-independent", func() bool { return a.agent.held().resp == nil })
	for _, tc := range []struct {
		mapping rendezvousv1.Mapping
		keep    bool
	}{
		{ed, true}, {rendezvousv1.Mapping_MAPPING_UNSPECIFIED, true}, {ei, false},
	} {
		a.agent.setMapping(tc.mapping)
		a.agent.holdCreds(heldCreds{})
		a.agent.keepCredsOnce(ctx)
		if got := a.agent.held().resp != nil; got != tc.keep {
			t.Errorf("mapping %v: holds credentials %v, want %v", tc.mapping, got, tc.keep)
		}
	}
	if (&Agent{}).keepsCreds() {
		t.Error("a node in direct mode keeps TURN credentials")
	}
}

// TestCachedCreds: the relay uses the credentials the node holds while they are good,
// without a call to the rendezvous (a cancelled context cannot make one); expired ones
// are fetched afresh, and held only when the node keeps credentials.
func TestCachedCreds(t *testing.T) {
	a, _ := credsNode(t, Config{PunchTimeout: -1})
	a.agent.setMapping(ed)
	srv := a.agent.disc.Status().Server
	resp := &rendezvousv1.TurnCredentialsResponse{Username: "x:fp", Password: "p"}
	a.agent.holdCreds(heldCreds{resp: resp, server: srv, refresh: time.Now(), expires: time.Now().Add(time.Minute)})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if got, err := a.agent.turnCreds(cancelled); err != nil || got != resp {
		t.Fatalf("turnCreds with good credentials held: %v, %v; want those held", got, err)
	}
	for name, h := range map[string]heldCreds{
		"expired":                 {resp: resp, server: srv, expires: time.Now().Add(-time.Second)},
		"from another rendezvous": {resp: resp, server: "192.0.2.1:7000", expires: time.Now().Add(time.Minute)},
	} {
		a.agent.holdCreds(h)
		if got, err := a.agent.turnCreds(cancelled); err == nil {
			t.Fatalf("turnCreds with credentials held %s and no way to fetch: %v, want an error", name, got)
		}
	}
	for _, tc := range []struct {
		mapping rendezvousv1.Mapping
		hold    bool
	}{{ed, true}, {ei, false}} {
		a.agent.setMapping(tc.mapping)
		a.agent.holdCreds(heldCreds{})
		got, err := a.agent.turnCreds(context.Background())
		if err != nil || got.GetPassword() == "" {
			t.Fatalf("turnCreds fetching: %v, %v", got, err)
		}
		if held := a.agent.held().resp == got; held != tc.hold {
			t.Errorf("mapping %v: holds the credentials it fetched %v, want %v", tc.mapping, held, tc.hold)
		}
	}
}

// TestCredsServer: against a real rendezvous, the credentials held are the ones a
// relay allocates with: refused ones held (expired by their username, though the node
// thinks them good) reach the rendezvous' TURN server, which refuses them; the node
// drops them, fetches afresh and the relayed dial still succeeds. Their lifetime comes
// from the username.
func TestCredsServer(t *testing.T) {
	rvLog := &recordLog{}
	rv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNAllowPrivate: true, Logger: slog.New(rvLog)})
	servers := []string{rv.GRPC}
	a, b := newNode(t, "alice", servers, Config{PunchTimeout: -1}), newNode(t, "bob", servers, Config{PunchTimeout: -1})
	befriend(t, a, b)
	a.agent.setMapping(ed)
	fetched, err := a.agent.disc.TurnCredentials(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h := credsLife(fetched, a.agent.disc.Status().Server, time.Now())
	if d := time.Until(h.expires) - time.Duration(fetched.GetTtlSeconds())*time.Second; d < -2*time.Second || d > time.Second {
		t.Errorf("credentials held until %v, %v off their TTL of %ds", h.expires, d, fetched.GetTtlSeconds())
	}
	if d := time.Until(h.refresh) - time.Until(h.expires)/2; d < -time.Second || d > time.Second {
		t.Errorf("credentials refreshed at %v, not halfway to %v", h.refresh, h.expires)
	}
	user, pass := turn.Credentials("s3cret", "fp", time.Now().Add(-time.Minute))
	refused := &rendezvousv1.TurnCredentialsResponse{Username: user, Password: pass, Uris: fetched.GetUris()}
	a.agent.holdCreds(heldCreds{resp: refused, server: h.server, refresh: h.refresh, expires: h.expires})
	a.agent.dropPrimed() // primed with the good ones; a new one (if made) uses the refused
	if c := dial(t, a, b); !c.Relayed() {
		t.Fatal("punching is off, yet the connection is not relayed")
	}
	if rvLog.count("turn: refused") == 0 {
		t.Error("the rendezvous refused no credentials: the relay did not allocate with those held")
	}
	if got := a.agent.held().resp; got == refused || got == nil {
		t.Errorf("credentials held after a refused allocation: %v, want fresh ones", got)
	}
}

// TestCredsRefreshAfter: credentials are good until the expiry in their username (else
// their TTL) and replaced halfway there, or when the node uses another rendezvous; the
// node keeps them until then, and when a fetch fails keeps the old ones and tries
// again soon.
func TestCredsRefreshAfter(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		user             string
		ttl              uint32
		refresh, expires int64
	}{
		{"1600:fp", 60, 1300, 1600},
		{"nocolon", 600, 1300, 1600},
		{"soon:fp", 100, 1050, 1100},
	} {
		h := credsLife(&rendezvousv1.TurnCredentialsResponse{Username: tc.user, TtlSeconds: tc.ttl}, "", now)
		if h.refresh.Unix() != tc.refresh || h.expires.Unix() != tc.expires {
			t.Errorf("%q, TTL %d: refresh at %d, expires at %d; want %d, %d", tc.user, tc.ttl, h.refresh.Unix(), h.expires.Unix(), tc.refresh, tc.expires)
		}
	}

	a, _ := credsNode(t, Config{})
	a.agent.setMapping(ed)
	old := &rendezvousv1.TurnCredentialsResponse{Username: "old"}
	srv := a.agent.disc.Status().Server
	a.agent.holdCreds(heldCreds{resp: old, server: srv, refresh: time.Now().Add(time.Hour), expires: time.Now().Add(2 * time.Hour)})
	if wait := a.agent.keepCredsOnce(context.Background()); a.agent.held().resp != old || wait != credsRecheck {
		t.Errorf("fresh credentials: held %v, next look in %v; want the old ones kept, %v", a.agent.held().resp, wait, credsRecheck)
	}
	a.agent.holdCreds(heldCreds{resp: old, server: srv, refresh: time.Now().Add(10 * time.Second), expires: time.Now().Add(time.Hour)})
	if wait := a.agent.keepCredsOnce(context.Background()); wait > 10*time.Second || wait < 9*time.Second {
		t.Errorf("credentials due in 10s: next look in %v", wait)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	a.agent.holdCreds(heldCreds{resp: old, server: srv, refresh: time.Now(), expires: time.Now().Add(time.Hour)})
	if wait := a.agent.keepCredsOnce(cancelled); a.agent.held().resp != old || wait != credsRetry {
		t.Errorf("a failed refresh: held %v, next look in %v; want the old ones kept, %v", a.agent.held().resp, wait, credsRetry)
	}
	// Fresh ones, but from another rendezvous than the one in use (a failover): new
	// ones from this one.
	a.agent.holdCreds(heldCreds{resp: old, server: "192.0.2.1:7000", refresh: time.Now().Add(time.Hour), expires: time.Now().Add(2 * time.Hour)})
	wait := a.agent.keepCredsOnce(context.Background())
	got := a.agent.held()
	if got.resp == old || !strings.Contains(got.resp.GetUsername(), ":") {
		t.Fatalf("credentials from another rendezvous: held %v, want new ones", got.resp)
	}
	if want := time.Until(got.refresh); wait > min(credsRecheck, want) || wait < min(credsRecheck, want)-time.Second {
		t.Errorf("after a refresh: next look in %v, want %v", wait, min(credsRecheck, want))
	}
}
