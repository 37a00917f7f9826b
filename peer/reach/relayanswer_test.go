package reach

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/discovery"
	"github.com/kithnet/kith/peer/store"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/shared/identity"
)

// TestRelayAnswered: a relay answer reaches only the find that waits for it: same
// punch secret, signed by the person offered to, carrying a relay address; anything
// else is dropped, and nothing is delivered after the find is done.
func TestRelayAnswered(t *testing.T) {
	a := &Agent{relayAnswers: map[string]relayAnswerWaiter{}, log: slog.New(slog.DiscardHandler)}
	friend, other := mustKey(t).Public(), mustKey(t).Public()
	secret := []byte("0123456789abcdef")
	relay := &rendezvousv1.Candidate{Address: "198.51.100.7:40000", Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_RELAY}
	host := &rendezvousv1.Candidate{Address: "10.0.0.2:4700", Type: rendezvousv1.CandidateType_CANDIDATE_TYPE_HOST}
	offer := func(from identity.PublicKey, s []byte, cs ...*rendezvousv1.Candidate) discovery.Offer {
		return discovery.Offer{From: from, Person: from, Offer: &rendezvousv1.Offer{PunchSecret: s, Candidates: cs,
			Kind: rendezvousv1.OfferKind_OFFER_KIND_RELAY_ANSWER}}
	}
	ch, done := a.expectRelayAnswer(secret, friend)
	for _, tc := range []struct {
		name string
		o    discovery.Offer
	}{
		{"another person", offer(other, secret, relay)},
		{"another secret", offer(friend, []byte("fedcba9876543210"), relay)},
		{"no relay address", offer(friend, secret, host)},
	} {
		a.relayAnswered(tc.o)
		select {
		case got := <-ch:
			t.Fatalf("%s: delivered %v", tc.name, got)
		default:
		}
	}
	a.relayAnswered(offer(friend, secret, host, relay))
	select {
	case got := <-ch:
		if got != netip.MustParseAddrPort("198.51.100.7:40000") {
			t.Fatalf("delivered %v, want the relay address", got)
		}
	default:
		t.Fatal("the awaited relay answer was not delivered")
	}
	done()
	a.relayAnswered(offer(friend, secret, relay)) // must not block or panic
	if len(a.relayAnswers) != 0 {
		t.Fatalf("%d waiters left after the find", len(a.relayAnswers))
	}
}

// TestAnswersWithRelay: a callee sends its relay only to a friend, never to a stranger
// or one of its own devices, and only when both NATs map endpoint-dependently.
func TestAnswersWithRelay(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNAllowPrivate: true})
	n := newNode(t, "bob", []string{rv.GRPC}, Config{})
	friend, stranger := mustKey(t).Public(), mustKey(t).Public()
	if err := n.st.PutFriend(store.Friend{Key: friend, Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	const ed, ei = rendezvousv1.Mapping_MAPPING_ENDPOINT_DEPENDENT, rendezvousv1.Mapping_MAPPING_ENDPOINT_INDEPENDENT
	for _, tc := range []struct {
		name       string
		from       identity.PublicKey
		ours, them rendezvousv1.Mapping
		want       bool
	}{
		{"friend, both endpoint-dependent", friend, ed, ed, true},
		{"friend, caller endpoint-independent", friend, ed, ei, false},
		{"friend, we endpoint-independent", friend, ei, ed, false},
		{"friend, caller's mapping unknown", friend, ed, rendezvousv1.Mapping_MAPPING_UNSPECIFIED, false},
		{"stranger, both endpoint-dependent", stranger, ed, ed, false},
		{"own device, both endpoint-dependent", n.agent.person, ed, ed, false},
	} {
		n.agent.setMapping(tc.ours)
		o := discovery.Offer{From: tc.from, Person: tc.from, Offer: &rendezvousv1.Offer{Mapping: tc.them}}
		if got := n.agent.answersWithRelay(o); got != tc.want {
			t.Errorf("%s: answersWithRelay %v, want %v", tc.name, got, tc.want)
		}
	}
	direct := &Agent{cfg: n.agent.cfg, person: n.agent.person, mappingKind: ed}
	if direct.answersWithRelay(discovery.Offer{From: friend, Person: friend, Offer: &rendezvousv1.Offer{Mapping: ed}}) {
		t.Error("a node in direct mode (no rendezvous) answers with a relay")
	}
}

// TestRelayAnswerKeepsItsAllocation: the allocation a callee answered with is not
// released while its caller may still come (RelayTimeout), whatever else ends, and is
// released once that wait is over with nobody on it.
func TestRelayAnswerKeepsItsAllocation(t *testing.T) {
	rv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret", TURNAllowPrivate: true})
	servers := []string{rv.GRPC}
	a, b := newNode(t, "alice", servers, Config{}), newNode(t, "bob", servers, Config{RelayTimeout: time.Second})
	befriend(t, a, b)
	a.agent.setMapping(ed)
	b.agent.setMapping(ed)
	// A CONNECT that no find of alice's waits on: bob answers it with his relay, and
	// alice never comes.
	if _, err := a.agent.disc.Connect(context.Background(), b.key.Public(), rendezvousv1.OfferKind_OFFER_KIND_CONNECT, nil, newNonce()); err != nil {
		t.Fatal(err)
	}
	relay := func() *relayed {
		b.agent.mu.Lock()
		defer b.agent.mu.Unlock()
		return b.agent.relay
	}
	waitUntil(t, "bob's relay answer allocated", func() bool { return relay() != nil })
	r := relay()
	b.agent.releaseIdle(r)
	if relay() != r {
		t.Fatal("the allocation was released while the caller may still come")
	}
	waitUntil(t, "the allocation released after the wait", func() bool { return relay() == nil })
}
