package server_test

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/rendezvous/server"
	"github.com/kithnet/kith/shared/redistest"
)

func TestLookupMany(t *testing.T) {
	r := redistest.Start(t)
	for _, tc := range []struct {
		name string
		cfg  rendezvous.Config
	}{
		{"memory", rendezvous.Config{}},
		{"redis", rendezvous.Config{RedisURL: r.URL()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rendezvoustest.Start(t, tc.cfg).Client(t)
			var fps []string
			var want []*signedv1.Envelope
			for range 3 {
				k := rendezvoustest.NewKey(t)
				want = append(want, register(t, c, k, time.Now()))
				fps = append(fps, string(k.Public().Fingerprint()))
			}
			absent := string(rendezvoustest.NewKey(t).Public().Fingerprint())
			ask := []string{fps[0], absent, fps[1], fps[2]}
			resp, err := c.LookupMany(ctxT(t), &rendezvousv1.LookupManyRequest{Fingerprints: ask})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.GetRecords()) != 3 {
				t.Fatalf("LookupMany of 3 registered and 1 absent: %d records, want 3", len(resp.GetRecords()))
			}
			for i, got := range resp.GetRecords() {
				if got.GetFingerprint() != fps[i] || !proto.Equal(got.GetRecord(), want[i]) {
					t.Fatalf("record %d: %s, want %s's registration byte for byte, in request order", i, got.GetFingerprint(), fps[i])
				}
			}
		})
	}
}

func TestLookupManyBadInput(t *testing.T) {
	c := rendezvoustest.Start(t, rendezvous.Config{RateLimit: server.RateLimit{PerIP: 30}}).Client(t)
	fp := func() string { return string(rendezvoustest.NewKey(t).Public().Fingerprint()) }
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%052d", i) // well-formed length; parse decides
		}
		return out
	}
	valid := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fp()
		}
		return out
	}
	one := fp()
	for _, tc := range []struct {
		name string
		fps  []string
		code codes.Code
		msg  string
	}{
		{"too many", valid(server.MaxLookupMany + 1), codes.InvalidArgument, "too many fingerprints"},
		{"malformed", []string{one, "not-a-fingerprint"}, codes.InvalidArgument, "fingerprint 1"},
		{"duplicate", []string{one, fp(), one}, codes.InvalidArgument, "named twice"},
		{"garbage", many(2)[:1], codes.InvalidArgument, "fingerprint 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.LookupMany(ctxT(t), &rendezvousv1.LookupManyRequest{Fingerprints: tc.fps})
			wantCode(t, err, tc.code, tc.msg)
		})
	}
	// 16 fingerprints cost one request; a full batch costs 32 of the IP's 30 (5 spent).
	if _, err := c.LookupMany(ctxT(t), &rendezvousv1.LookupManyRequest{Fingerprints: valid(16)}); err != nil {
		t.Fatalf("a batch of 16 within budget: %v", err)
	}
	_, err := c.LookupMany(ctxT(t), &rendezvousv1.LookupManyRequest{Fingerprints: valid(server.MaxLookupMany)})
	wantCode(t, err, codes.ResourceExhausted, "rate limit exceeded")
}
