package syncer

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

func TestParseFriendRequest(t *testing.T) {
	gen := func() *identity.Key {
		k, err := identity.Generate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	dave, alice, carol := gen(), gen(), gen()
	now := time.UnixMilli(1_800_000_000_000)
	sign := func(k *identity.Key, fr *syncv1.FriendRequest) *syncv1.RequestFriendshipRequest {
		env, err := signed.Seal(k, identity.ContextFriendRequest, fr)
		if err != nil {
			t.Fatal(err)
		}
		return &syncv1.RequestFriendshipRequest{Request: env}
	}
	good := func() *syncv1.FriendRequest {
		return &syncv1.FriendRequest{From: dave.Public().Bytes(), To: alice.Public().Bytes(), CreatedUnixMs: now.UnixMilli(), Name: "Dave", Address: "127.0.0.1:4700"}
	}
	ok, err := ParseFriendRequest(sign(dave, good()), dave.Public(), alice.Public(), now, nil)
	if err != nil || ok.From != dave.Public() || ok.Name != "Dave" || ok.Addr != "127.0.0.1:4700" {
		t.Fatalf("a good request: %+v, %v", ok, err)
	}
	edit := func(f func(*syncv1.FriendRequest)) *syncv1.FriendRequest { r := good(); f(r); return r }
	cases := []struct {
		name   string
		req    *syncv1.RequestFriendshipRequest
		caller identity.PublicKey
	}{
		{"signed by someone else than the caller", sign(carol, good()), dave.Public()},
		{"names someone else than its signer", sign(carol, good()), carol.Public()},
		{"addressed to someone else", sign(dave, edit(func(r *syncv1.FriendRequest) { r.To = carol.Public().Bytes() })), dave.Public()},
		{"too old", sign(dave, edit(func(r *syncv1.FriendRequest) { r.CreatedUnixMs -= int64(time.Hour / time.Millisecond) })), dave.Public()},
		{"from the future", sign(dave, edit(func(r *syncv1.FriendRequest) { r.CreatedUnixMs += int64(time.Hour / time.Millisecond) })), dave.Public()},
		{"long name", sign(dave, edit(func(r *syncv1.FriendRequest) { r.Name = strings.Repeat("x", 65) })), dave.Public()},
		{"control characters", sign(dave, edit(func(r *syncv1.FriendRequest) { r.Name = "Da\x1bve" })), dave.Public()},
		{"bad address", sign(dave, edit(func(r *syncv1.FriendRequest) { r.Address = "nowhere" })), dave.Public()},
		{"no envelope", &syncv1.RequestFriendshipRequest{}, dave.Public()},
		{"huge", sign(dave, edit(func(r *syncv1.FriendRequest) { r.Address = strings.Repeat("x", 2000) + ":1" })), dave.Public()},
	}
	for _, tc := range cases {
		if _, err := ParseFriendRequest(tc.req, tc.caller, alice.Public(), now, nil); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestRequestLimiter(t *testing.T) {
	var l requestLimiter
	now := time.Unix(1_800_000_000, 0)
	var k [32]byte
	if !l.allow(k, now) || !l.allow(k, now) || l.allow(k, now) {
		t.Fatalf("one key: want %d requests a minute", RequestsPerCallerPerMinute)
	}
	n := 0
	for i := 1; i < 100; i++ {
		var other [32]byte
		other[0] = byte(i)
		if l.allow(other, now) {
			n++
		}
	}
	if n+RequestsPerCallerPerMinute != RequestsPerMinute {
		t.Fatalf("all keys: %d taken in a minute, want %d", n+RequestsPerCallerPerMinute, RequestsPerMinute)
	}
	if !l.allow(k, now.Add(time.Minute)) {
		t.Fatal("a minute later the key is refused still")
	}
}

// TestRequestFriendshipOverTheWire: a stranger's signed request is kept pending; one
// that does not verify is refused and keeps nothing; a friend's is answered "already
// friends"; a caller past RequestsPerCallerPerMinute is refused.
func TestRequestFriendshipOverTheWire(t *testing.T) {
	owner, asker, friend := newNode(t, "owner", nil), newNode(t, "asker", nil), newNode(t, "friend", nil)
	befriend(t, owner, friend)
	ctx := ctxT(t)
	c := asker.client(t, owner)
	now := time.Now()
	wrong, err := SignFriendRequest(asker.key, friend.pub(), "Asker", "", now) // addressed to someone else
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.RequestFriendship(ctx, wrong)
	wantCode(t, "a request to someone else", err, codes.InvalidArgument)
	if rs, err := owner.st.FriendRequests(); err != nil || len(rs) != 0 {
		t.Fatalf("a refused request was kept: %v, %v", rs, err)
	}
	req, err := SignFriendRequest(asker.key, owner.pub(), "Asker", "", now)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := c.RequestFriendship(ctx, req); err != nil || resp.GetAlreadyFriends() {
		t.Fatalf("a stranger's request: %v, %v", resp, err)
	}
	if rs, err := owner.st.FriendRequests(); err != nil || len(rs) != 1 || rs[0].From != asker.pub() || rs[0].Name != "Asker" {
		t.Fatalf("pending requests %+v, %v; want Asker's", rs, err)
	}
	for i := 1; i < RequestsPerCallerPerMinute; i++ {
		if _, err := c.RequestFriendship(ctx, req); err != nil {
			t.Fatalf("request %d of %d a minute: %v", i+1, RequestsPerCallerPerMinute, err)
		}
	}
	_, err = c.RequestFriendship(ctx, req)
	wantCode(t, "one request too many", err, codes.ResourceExhausted)

	freq, err := SignFriendRequest(friend.key, owner.pub(), "Friend", "", now)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := friend.client(t, owner).RequestFriendship(ctx, freq); err != nil || !resp.GetAlreadyFriends() {
		t.Errorf("a friend's request: %v, %v; want already friends", resp, err)
	}
}
