package syncer

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// TestDeviceFriendRequests (issue 16): a friend request a device of Dave's signs names
// Dave and is taken as Dave's when the sender is Dave (the TLS caller of a device is its
// person) or the device itself (the signer of an offer through the rendezvous), and its
// chain holds; every broken link is refused.
func TestDeviceFriendRequests(t *testing.T) {
	dave, laptop, alice, carol := newKey(t), newKey(t), newKey(t), newKey(t)
	now := time.UnixMilli(1_800_000_000_000)
	cert, err := device.Issue(dave, laptop.Public(), []byte("laptop01"), now.Add(-time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	carolsCert, err := device.Issue(carol, laptop.Public(), []byte("laptop01"), now.Add(-time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := device.Open(cert, dave.Public())
	revEnv, err := device.Revoke(dave, c, now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	rev, err := device.OpenRevocation(revEnv, dave.Public())
	if err != nil {
		t.Fatal(err)
	}
	sign := func(k *identity.Key, person identity.PublicKey, cert *signedv1.Envelope) *syncv1.RequestFriendshipRequest {
		t.Helper()
		req, err := SignFriendRequestAs(k, person, cert, alice.Public(), "Dave", "", now)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	good := sign(laptop, dave.Public(), cert)
	if good.GetRequest().GetCertificate() == nil {
		t.Fatal("a device's request carries no certificate")
	}
	if sign(dave, dave.Public(), cert).GetRequest().GetCertificate() != nil {
		t.Fatal("the identity's request carries a certificate")
	}
	for _, caller := range []identity.PublicKey{dave.Public(), laptop.Public()} {
		r, err := ParseFriendRequest(good, caller, alice.Public(), now, nil)
		if err != nil || r.From != dave.Public() || r.Name != "Dave" {
			t.Fatalf("a device's request sent by %s: %+v, %v; want it as Dave's", caller.Short(), r, err)
		}
	}
	identityV2, err := signed.Seal(dave, identity.ContextDeviceFriendRequest, &syncv1.FriendRequest{From: dave.Public().Bytes(), To: alice.Public().Bytes(), CreatedUnixMs: now.UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	identityV2.Certificate = cert
	asV1, err := signed.Seal(laptop, identity.ContextFriendRequest, &syncv1.FriendRequest{From: dave.Public().Bytes(), To: alice.Public().Bytes(), CreatedUnixMs: now.UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	asV1.Certificate = cert
	noKey, err := signed.Seal(laptop, identity.ContextDeviceFriendRequest, &syncv1.FriendRequest{From: []byte("dave"), To: alice.Public().Bytes(), CreatedUnixMs: now.UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	noKey.Certificate = cert
	malformed := &signedv1.Envelope{Signer: laptop.Public().Bytes(), Payload: []byte{0xff}, Signature: laptop.Sign(identity.ContextDeviceFriendRequest, []byte{0xff}), Certificate: cert}
	revoked := func(p identity.PublicKey) ([]device.Revocation, error) {
		if p == dave.Public() {
			return []device.Revocation{rev}, nil
		}
		return nil, nil
	}
	cases := []struct {
		name    string
		req     *syncv1.RequestFriendshipRequest
		caller  identity.PublicKey
		revoked func(identity.PublicKey) ([]device.Revocation, error)
		want    error // nil: any refusal
	}{
		{"sent by someone else than Dave or the device", good, carol.Public(), nil, signed.ErrWrongSigner},
		{"names Carol, Dave's certificate", sign(laptop, carol.Public(), cert), carol.Public(), nil, device.ErrNotCertified},
		{"Carol's certificate for Dave's request", sign(laptop, dave.Public(), carolsCert), dave.Public(), nil, device.ErrNotCertified},
		{"the device revoked before it signed", good, dave.Public(), revoked, device.ErrRevoked},
		{"revocations that cannot be read", good, dave.Public(), func(identity.PublicKey) ([]device.Revocation, error) { return nil, errStoreDown }, errStoreDown},
		{"the identity signing v2", &syncv1.RequestFriendshipRequest{Request: identityV2}, dave.Public(), nil, nil},
		{"a device's request under v1", &syncv1.RequestFriendshipRequest{Request: asV1}, dave.Public(), nil, identity.ErrBadSignature},
		{"from is no key", &syncv1.RequestFriendshipRequest{Request: noKey}, laptop.Public(), nil, nil},
		{"malformed payload", &syncv1.RequestFriendshipRequest{Request: malformed}, laptop.Public(), nil, signed.ErrMalformedPayload},
	}
	for _, tc := range cases {
		_, err := ParseFriendRequest(tc.req, tc.caller, alice.Public(), now, tc.revoked)
		if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v; want a refusal (%v)", tc.name, err, tc.want)
		}
	}
}

var errStoreDown = errors.New("store down")

// TestDeviceFriendRequestOverTheWire: Dave's laptop sends a friend request to Alice over
// a connection authenticated as Dave; Alice holds it as Dave's. Through the rendezvous
// (TakeFriendRequest with the offer's signer, the laptop) it is Dave's as well, and
// the bound per person counts both.
func TestDeviceFriendRequestOverTheWire(t *testing.T) {
	alice, dave := newNode(t, "alice", nil), newNode(t, "dave", nil)
	laptop := newKey(t)
	cert, err := device.Issue(dave.key, laptop.Public(), []byte("laptop01"), time.Now().Add(-time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req, err := SignFriendRequestAs(laptop, dave.pub(), cert, alice.pub(), "Dave", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dave.client(t, alice).RequestFriendship(ctxT(t), req); err != nil {
		t.Fatalf("a device's request over Dave's connection: %v", err)
	}
	rs, err := alice.st.FriendRequests()
	if err != nil || len(rs) != 1 || rs[0].From != dave.pub() {
		t.Fatalf("Alice holds %+v, %v; want one request from Dave", rs, err)
	}
	if _, err := alice.srv.TakeFriendRequest(laptop.Public(), req); err != nil {
		t.Fatalf("the same request through the rendezvous, signed by the laptop: %v", err)
	}
	_, err = alice.srv.TakeFriendRequest(laptop.Public(), req)
	wantCode(t, "a third request from Dave within the minute", err, codes.ResourceExhausted)
}

// TestFriendRequestBounds: each bound of a friend request takes its limit exactly and
// refuses one past it: the payload's size, the clock window on both sides, the name's
// and the address's length.
func TestFriendRequestBounds(t *testing.T) {
	dave, alice := newKey(t), newKey(t)
	now := time.UnixMilli(1_800_000_000_000)
	base := func() *syncv1.FriendRequest {
		return &syncv1.FriendRequest{From: dave.Public().Bytes(), To: alice.Public().Bytes(), CreatedUnixMs: now.UnixMilli()}
	}
	// raw signs payload bytes as they are (unknown fields included).
	raw := func(p []byte) *syncv1.RequestFriendshipRequest {
		return &syncv1.RequestFriendshipRequest{Request: &signedv1.Envelope{Signer: dave.Public().Bytes(), Payload: p,
			Signature: dave.Sign(identity.ContextFriendRequest, p)}}
	}
	// padded is base marshalled and padded with an unknown bytes field to n bytes.
	padded := func(n int) *syncv1.RequestFriendshipRequest {
		p, err := proto.Marshal(base())
		if err != nil {
			t.Fatal(err)
		}
		// field 15, wire type 2: tag 0x7a, a two-byte length, then the filler.
		fill := n - len(p) - 3
		p = append(p, 0x7a, byte(fill&0x7f|0x80), byte(fill>>7))
		p = append(p, make([]byte, fill)...)
		if len(p) != n {
			t.Fatalf("padded to %d, want %d", len(p), n)
		}
		return raw(p)
	}
	signedReq := func(edit func(*syncv1.FriendRequest)) *syncv1.RequestFriendshipRequest {
		fr := base()
		edit(fr)
		req, err := SignFriendRequest(dave, alice.Public(), fr.GetName(), fr.GetAddress(), time.UnixMilli(fr.GetCreatedUnixMs()))
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	window := int64(RequestClockWindow / time.Millisecond)
	host := strings.Repeat("h", 250)
	cases := []struct {
		name string
		req  *syncv1.RequestFriendshipRequest
		ok   bool
	}{
		{"payload at the limit", padded(MaxRequestPayload), true},
		{"payload one byte over", padded(MaxRequestPayload + 1), false},
		{"signed a window ago", signedReq(func(r *syncv1.FriendRequest) { r.CreatedUnixMs -= window }), true},
		{"signed a window and 1 ms ago", signedReq(func(r *syncv1.FriendRequest) { r.CreatedUnixMs -= window + 1 }), false},
		{"signed a window ahead", signedReq(func(r *syncv1.FriendRequest) { r.CreatedUnixMs += window }), true},
		{"signed a window and 1 ms ahead", signedReq(func(r *syncv1.FriendRequest) { r.CreatedUnixMs += window + 1 }), false},
		{"a 64-byte name", signedReq(func(r *syncv1.FriendRequest) { r.Name = strings.Repeat("n", 64) }), true},
		{"a 65-byte name", signedReq(func(r *syncv1.FriendRequest) { r.Name = strings.Repeat("n", 65) }), false},
		{"a 255-byte address", signedReq(func(r *syncv1.FriendRequest) { r.Address = host + ":1234" }), true},
		{"a 256-byte address", signedReq(func(r *syncv1.FriendRequest) { r.Address = host + ":12345" }), false},
	}
	for _, tc := range cases {
		_, err := ParseFriendRequest(tc.req, dave.Public(), alice.Public(), now, nil)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v; want accepted %v", tc.name, err, tc.ok)
		}
	}
}
