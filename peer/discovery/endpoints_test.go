package discovery

import (
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
	"google.golang.org/protobuf/proto"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/shared/identity"
)

func cand(addr string, typ rendezvousv1.CandidateType) *rendezvousv1.Candidate {
	return &rendezvousv1.Candidate{Address: addr, Type: typ}
}

// sealedReg seals cands for a registration of a fresh key and returns it with the key.
func sealedReg(t *testing.T, cands []*rendezvousv1.Candidate) ([]byte, *rendezvousv1.Registration, error) {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := NewReachKey()
	sr, err := SealReachability(key, k.Public(), 1700000000000, cands)
	return key, &rendezvousv1.Registration{PublicKey: k.Public().Bytes(), TimestampUnixMs: 1700000000000, Reachability: sr}, err
}

func TestReachabilityRoundTrip(t *testing.T) {
	host, srflx, relay := rendezvousv1.CandidateType_CANDIDATE_TYPE_HOST, rendezvousv1.CandidateType_CANDIDATE_TYPE_SERVER_REFLEXIVE, rendezvousv1.CandidateType_CANDIDATE_TYPE_RELAY
	in := []*rendezvousv1.Candidate{
		cand("192.168.1.23:41641", host),
		cand("[2a02:8108:1a3f:9c00:1234:5678:9abc:def0]:41641", host),
		cand("[fe80::1%eth0]:41641", host), // left out: the zone means nothing elsewhere
		cand("203.0.113.45:65535", srflx),
		cand("[::ffff:198.51.100.7]:1", relay), // stays IPv4-mapped
	}
	key, reg, err := sealedReg(t, in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenReachability(key, reg)
	if err != nil {
		t.Fatal(err)
	}
	want := []*rendezvousv1.Candidate{in[0], in[1], in[3], in[4]}
	if len(got) != len(want) {
		t.Fatalf("opened %v; want %v", got, want)
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("candidate %d = %v; want %v", i, got[i], want[i])
		}
	}
	// The size this saves is why v2 exists: the IPv6 candidate is 16 bytes, not 47.
	v1 := proto.Size(&rendezvousv1.Registration{PublicCandidates: in})
	if n := len(reg.GetReachability().GetCiphertext()) - chacha20poly1305.Overhead; n > v1/2 {
		t.Errorf("sealed %d bytes of candidates; want at most half of the %d of v1's strings", n, v1)
	}
}

func TestReachabilitySealRefuses(t *testing.T) {
	many := make([]*rendezvousv1.Candidate, maxEndpoints+1)
	for i := range many {
		many[i] = cand(fmt.Sprintf("192.0.2.%d:4000", i+1), rendezvousv1.CandidateType_CANDIDATE_TYPE_HOST)
	}
	if _, _, err := sealedReg(t, many[:maxEndpoints]); err != nil {
		t.Fatalf("%d candidates: %v", maxEndpoints, err)
	}
	for _, tc := range []struct {
		name  string
		cands []*rendezvousv1.Candidate
	}{
		{"no port", []*rendezvousv1.Candidate{cand("192.0.2.1", 0)}},
		{"port 0", []*rendezvousv1.Candidate{cand("192.0.2.1:0", 0)}},
		{"a name", []*rendezvousv1.Candidate{cand("example.com:4000", 0)}},
		{"empty", []*rendezvousv1.Candidate{cand("", 0)}},
		{"one bad of two", []*rendezvousv1.Candidate{cand("192.0.2.1:4000", 0), cand("192.0.2.1:70000", 0)}},
		{"17 candidates", many},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, reg, err := sealedReg(t, tc.cands); !errors.Is(err, ErrBadCandidate) {
				t.Fatalf("sealed %v, %v; want ErrBadCandidate", reg.GetReachability(), err)
			}
		})
	}
}

// TestReachabilityOpenRefuses seals malformed Reachability plaintexts (as a person's
// other device or a bug could) and expects the record not to open.
func TestReachabilityOpenRefuses(t *testing.T) {
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ep := func(ip []byte, port uint32) *rendezvousv1.Endpoint { return &rendezvousv1.Endpoint{Ip: ip, Port: port} }
	many := make([]*rendezvousv1.Endpoint, maxEndpoints+1)
	for i := range many {
		many[i] = ep([]byte{192, 0, 2, byte(i)}, 4000)
	}
	for _, tc := range []struct {
		name string
		eps  []*rendezvousv1.Endpoint
		ok   bool
		ad   string
	}{
		{"well formed", []*rendezvousv1.Endpoint{ep([]byte{192, 0, 2, 1}, 1), ep(make([]byte, 16), 65535)}, true, "kith/reachability/v2"},
		{"16 endpoints", many[:maxEndpoints], true, "kith/reachability/v2"},
		{"17 endpoints", many, false, "kith/reachability/v2"},
		{"ip of 5 bytes", []*rendezvousv1.Endpoint{ep(make([]byte, 5), 4000)}, false, "kith/reachability/v2"},
		{"no ip", []*rendezvousv1.Endpoint{ep(nil, 4000)}, false, "kith/reachability/v2"},
		{"port 0", []*rendezvousv1.Endpoint{ep([]byte{192, 0, 2, 1}, 0)}, false, "kith/reachability/v2"},
		{"port 65536", []*rendezvousv1.Endpoint{ep([]byte{192, 0, 2, 1}, 65536)}, false, "kith/reachability/v2"},
		{"sealed as v1", []*rendezvousv1.Endpoint{ep([]byte{192, 0, 2, 1}, 4000)}, false, "kith/reachability/v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := NewReachKey()
			aead, _ := chacha20poly1305.NewX(key)
			plain, _ := proto.Marshal(&rendezvousv1.Reachability{Endpoints: tc.eps})
			nonce := make([]byte, aead.NonceSize())
			ad := append([]byte(tc.ad), k.Public().Bytes()...)
			ad = append(ad, 0, 0, 1, 0x8b, 0xcf, 0xe5, 0x68, 0x00) // 1700000000000
			reg := &rendezvousv1.Registration{PublicKey: k.Public().Bytes(), TimestampUnixMs: 1700000000000,
				Reachability: &rendezvousv1.SealedReachability{Nonce: nonce, Ciphertext: aead.Seal(nil, nonce, plain, ad)}}
			got, err := OpenReachability(key, reg)
			if tc.ok {
				if err != nil || len(got) != len(tc.eps) {
					t.Fatalf("opened %v, %v; want %d candidates", got, err, len(tc.eps))
				}
				return
			}
			if !errors.Is(err, ErrNoReachability) {
				t.Fatalf("opened %v, %v; want ErrNoReachability", got, err)
			}
		})
	}
}
