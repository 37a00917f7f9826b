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

func BenchmarkOpenOffer(b *testing.B) {
	caller, target := newKey(b), newKey(b)
	so, err := SealOffer(caller, target.Public(), &rendezvousv1.Offer{Candidates: host("192.0.2.2:4700"), PunchSecret: make([]byte, 16)}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := OpenOffer(target, so); err != nil {
			b.Fatal(err)
		}
	}
}
