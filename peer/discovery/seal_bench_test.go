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
// call, the baseline) and as a Client does (made once, in New: the callee's cost on
// the way to its answer and dial-back), alternating, and reports both and their ratio.
func BenchmarkOpenOffer(b *testing.B) {
	caller, target := newKey(b), newKey(b)
	so, err := SealOffer(caller, target.Public(), &rendezvousv1.Offer{Candidates: host("192.0.2.2:4700"), PunchSecret: make([]byte, 16)}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	id, err := ageIdentity(target)
	if err != nil {
		b.Fatal(err)
	}
	var perCall, client time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		_, _, err1 := OpenOffer(target, so)
		t1 := time.Now()
		_, _, err2 := openOfferAs(id, target.Public(), so)
		perCall, client, n = perCall+t1.Sub(t0), client+time.Since(t1), n+1
		if err1 != nil || err2 != nil {
			b.Fatal(err1, err2)
		}
	}
	b.ReportMetric(float64(perCall.Microseconds())/float64(n), "per-call-µs/open")
	b.ReportMetric(float64(client.Microseconds())/float64(n), "client-µs/open")
	b.ReportMetric(float64(client)/float64(perCall), "client/per-call")
}
