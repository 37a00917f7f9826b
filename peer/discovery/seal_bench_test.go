package discovery

import (
	"testing"
	"time"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
)

// BenchmarkSealOffer and BenchmarkOpenOffer measure what sealing costs a caller and a
// target per offer (an X25519 exchange each, inside age), and report its size.
func BenchmarkSealOffer(b *testing.B) {
	caller, target := newKey(b), newKey(b)
	cands := host("192.0.2.2:4700", "198.51.100.7:40000", "[2001:db8::10]:4700")
	var size int
	for b.Loop() {
		so, err := SealOffer(caller, target.Public(), &rendezvousv1.Offer{Candidates: cands, PunchSecret: make([]byte, 16)}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		size = len(so.GetSealed())
	}
	b.ReportMetric(float64(size), "sealed-bytes")
}

// BenchmarkOpenOffer opens an offer as OpenOffer does (the age identity made per
// call) and as a Client does (made once, in New): the second is the callee's cost on
// the way to its answer and dial-back.
func BenchmarkOpenOffer(b *testing.B) {
	caller, target := newKey(b), newKey(b)
	so, err := SealOffer(caller, target.Public(), &rendezvousv1.Offer{Candidates: host("192.0.2.2:4700"), PunchSecret: make([]byte, 16)}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("per-call", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := OpenOffer(target, so); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("client", func(b *testing.B) {
		id, err := ageIdentity(target)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, _, err := openOfferAs(id, target.Public(), so); err != nil {
				b.Fatal(err)
			}
		}
	})
}
