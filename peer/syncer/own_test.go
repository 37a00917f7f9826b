package syncer

import (
	"bytes"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/device"
	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/transport"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// joinDevice makes a new device of alice's through the real join exchange: a code from
// alice's Invites, Join over the transport with the device's fresh key, the snapshot
// imported. It returns the device's node (its key is the device key).
func joinDevice(t *testing.T, alice *node, name string) *node {
	t.Helper()
	iv := device.NewInvites(nil)
	alice.srv.SetInvites(iv)
	code, _, err := iv.Add(alice.pub(), name)
	if err != nil {
		t.Fatal(err)
	}
	dev := newKey(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := transport.New(transport.Config{Key: dev, PacketConn: pc, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := tr.Client(alice.tr.Addr(), code.Person)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := syncv1.NewSyncServiceClient(cc).Join(ctxT(t), &syncv1.JoinRequest{Secret: code.Secret[:]})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var snap bytes.Buffer
	for {
		m, err := stream.Recv()
		if err != nil {
			break
		}
		snap.Write(m.GetChunk())
	}
	cc.Close()
	tr.Close()
	pc.Close()
	home := t.TempDir()
	if err := store.ImportDevice(home, &snap, dev, first.GetCertificate()); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Config{Home: home, Logger: quiet(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return startDeviceNode(t, name, dev, st)
}

// startDeviceNode is startNode for a device: its TLS certificate carries its chain.
func startDeviceNode(t *testing.T, name string, key *identity.Key, st *store.Store) *node {
	t.Helper()
	g, err := st.Signer()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := transport.New(transport.Config{Key: key, DeviceCertificate: g.Certificate, PacketConn: pc, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tr.Listen()
	if err != nil {
		t.Fatal(err)
	}
	n := &node{name: name, key: key, st: st, srv: NewServer(st, quiet()), tr: tr}
	gs := grpc.NewServer(grpc.Creds(transport.Credentials()))
	syncv1.RegisterSyncServiceServer(gs, n.srv)
	go gs.Serve(ln)
	t.Cleanup(func() { gs.Stop(); tr.Close(); pc.Close() })
	return n
}

// ownClient is a sync client from n to the other device of the same person want.
func ownClient(t *testing.T, n, other *node, want identity.PublicKey) syncv1.SyncServiceClient {
	t.Helper()
	cc, err := n.tr.Client(other.tr.Addr(), want)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return syncv1.NewSyncServiceClient(cc)
}

func pullOwn(t *testing.T, n, other *node, person identity.PublicKey) OwnResult {
	t.Helper()
	res, err := NewPuller(PullerConfig{Store: n.st, Logger: quiet()}).PullOwn(ctxT(t), ownClient(t, n, other, person), other.key.Public())
	if err != nil {
		t.Fatalf("%s pulls %s: %v", n.name, other.name, err)
	}
	return res
}

// TestOwnDevicesSync: Alice's laptop joins; a post (with a photo, to a group) written
// on the laptop reaches Alice's first device with its audience; a friend, a group and
// an edit made on the first device reach the laptop; pulling again stores nothing.
func TestOwnDevicesSync(t *testing.T) {
	alice, bob := newNode(t, "alice", nil), newNode(t, "bob", nil)
	befriend(t, alice, bob, "family")
	early := alice.publish(t, "before the laptop", feed.Default())
	laptop := joinDevice(t, alice, "laptop")
	if laptop.holds(t, alice, early) != 1 {
		t.Fatal("the laptop lacks the post made before it joined")
	}
	photo := laptop.blob(t, randomBytes(t, 5000))
	fam := feed.Audience{Groups: []string{"family"}}
	id, err := laptop.st.Publish(store.NewPost{Text: "from the laptop", Audience: fam, Attachments: []*postv1.Attachment{photo}})
	if err != nil {
		t.Fatal(err)
	}
	res := pullOwn(t, alice, laptop, alice.pub())
	if res.Stored != 1 || res.Blobs != 1 {
		t.Fatalf("alice pulled %+v, want 1 post and 1 blob", res)
	}
	got, err := alice.st.Post(alice.pub(), id)
	if err != nil || got.Payload.GetText() != "from the laptop" || got.Audience.String() != fam.String() {
		t.Fatalf("alice holds %v (audience %v), %v; want the laptop's post to family", got.Payload, got.Audience, err)
	}
	if ok, _ := alice.st.HasBlob(photo.GetSha256()); !ok {
		t.Fatal("alice lacks the laptop's photo")
	}
	carol := newKey(t)
	if err := alice.st.PutFriend(store.Friend{Key: carol.Public(), Name: "carol", Groups: []string{"work"}}); err != nil {
		t.Fatal(err)
	}
	if err := alice.st.Edit(id, "edited on the first device"); err != nil {
		t.Fatal(err)
	}
	if res := pullOwn(t, laptop, alice, alice.pub()); res.Stored != 1 {
		t.Fatalf("the laptop pulled %+v, want the edit", res)
	}
	if f, err := laptop.st.Friend(carol.Public()); err != nil || f.Name != "carol" {
		t.Fatalf("the laptop's friend carol = %+v, %v", f, err)
	}
	if v := laptop.holds(t, alice, id); v != 2 {
		t.Fatalf("the laptop holds version %d, want the edit (2)", v)
	}
	if res := pullOwn(t, alice, laptop, alice.pub()); res.Stored != 0 {
		t.Fatalf("pulling back what was pulled stored %d, want 0 (no echo)", res.Stored)
	}
}

// TestOwnEditsConverge: the laptop and the first device edit one post while apart,
// then pull each other: both hold the same version, the one device.Newer picks.
func TestOwnEditsConverge(t *testing.T) {
	alice := newNode(t, "alice", nil)
	id := alice.publish(t, "original", feed.Default())
	laptop := joinDevice(t, alice, "laptop")
	if err := alice.st.Edit(id, "alice's edit"); err != nil {
		t.Fatal(err)
	}
	if err := laptop.st.Edit(id, "laptop's edit"); err != nil {
		t.Fatal(err)
	}
	pullOwn(t, alice, laptop, alice.pub())
	pullOwn(t, laptop, alice, alice.pub())
	a, _ := alice.st.Post(alice.pub(), id)
	l, _ := laptop.st.Post(alice.pub(), id)
	want := "alice's edit"
	if laptop.key.Public().Fingerprint() > alice.pub().Fingerprint() {
		want = "laptop's edit"
	}
	if a.Payload.GetText() != want || l.Payload.GetText() != want {
		t.Fatalf("after meeting: alice %q, laptop %q; want both %q", a.Payload.GetText(), l.Payload.GetText(), want)
	}
}

// TestOwnChangesRefused: a friend, a stranger and a revoked device get nothing from
// OwnChanges; GetDevices tells strangers nothing and friends the revocations.
func TestOwnChangesRefused(t *testing.T) {
	alice, bob, eve := newNode(t, "alice", nil), newNode(t, "bob", nil), newNode(t, "eve", nil)
	befriend(t, alice, bob)
	alice.publish(t, "for friends", feed.Default())
	laptop := joinDevice(t, alice, "laptop")
	for _, n := range []*node{bob, eve} {
		_, err := n.client(t, alice).OwnChanges(ctxT(t), &syncv1.OwnChangesRequest{})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("%s's OwnChanges = %v, want PermissionDenied", n.name, err)
		}
	}
	if _, err := alice.st.RevokeDevice("laptop"); err != nil {
		t.Fatal(err)
	}
	_, err := ownClient(t, laptop, alice, alice.pub()).OwnChanges(ctxT(t), &syncv1.OwnChangesRequest{})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("the revoked laptop's OwnChanges = %v, want PermissionDenied", err)
	}
	r, err := eve.client(t, alice).GetDevices(ctxT(t), &syncv1.GetDevicesRequest{})
	if err != nil || len(r.GetRevocations()) != 0 {
		t.Fatalf("a stranger's GetDevices = %d revocations, %v; want none", len(r.GetRevocations()), err)
	}
	r, err = bob.client(t, alice).GetDevices(ctxT(t), &syncv1.GetDevicesRequest{})
	if err != nil || len(r.GetRevocations()) != 1 {
		t.Fatalf("a friend's GetDevices = %d revocations, %v; want 1", len(r.GetRevocations()), err)
	}
}

// TestJoinRefusals: a used, an unknown and a malformed secret; a friend's key.
func TestJoinRefusals(t *testing.T) {
	alice, bob := newNode(t, "alice", nil), newNode(t, "bob", nil)
	befriend(t, alice, bob)
	stranger := func() *node { return newNode(t, "eve", nil) }
	recv := func(s syncv1.SyncService_JoinClient, err error) error {
		if err != nil {
			return err
		}
		_, err = s.Recv()
		return err
	}
	join := func(n *node, secret []byte) error {
		return recv(n.client(t, alice).Join(ctxT(t), &syncv1.JoinRequest{Secret: secret}))
	}
	if err := join(stranger(), make([]byte, 16)); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("joining a node that takes no codes = %v, want FailedPrecondition", err)
	}
	laptop := joinDevice(t, alice, "laptop")
	iv := device.NewInvites(nil)
	alice.srv.SetInvites(iv)
	code, _, err := iv.Add(alice.pub(), "phone")
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := iv.Add(alice.pub(), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	if err := join(stranger(), again.Secret[:]); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("a code for a device name taken = %v, want AlreadyExists", err)
	}
	if err := recv(ownClient(t, laptop, alice, alice.pub()).Join(ctxT(t), &syncv1.JoinRequest{Secret: code.Secret[:]})); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("an own device's key joining again = %v, want PermissionDenied", err)
	}
	if err := join(bob, code.Secret[:]); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a friend's key joining = %v, want PermissionDenied", err)
	}
	if err := join(stranger(), make([]byte, 16)); status.Code(err) != codes.NotFound {
		t.Fatalf("an unknown code = %v, want NotFound", err)
	}
	if err := join(stranger(), []byte("short")); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a malformed secret = %v, want InvalidArgument", err)
	}
	if err := join(stranger(), code.Secret[:]); err != nil {
		t.Fatalf("eve's fresh key with the code = %v, want it to join", err)
	}
	if err := join(newNode(t, "mallory", nil), code.Secret[:]); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a reused code = %v, want FailedPrecondition", err)
	}
}

// TestOwnChangesPages: the limit a device asks for is kept (0 and too large mean the
// server's own), a pull walks every page, the server notes when and from where its own
// device called, and a snapshot larger than one chunk arrives whole.
func TestOwnChangesPages(t *testing.T) {
	alice := newNode(t, "alice", nil)
	big := alice.blob(t, randomBytes(t, 3*ChunkSize/2))
	alice.publish(t, "with a photo larger than a chunk", feed.Default(), big)
	laptop := joinDevice(t, alice, "laptop")
	if ok, _ := laptop.st.HasBlob(big.GetSha256()); !ok {
		t.Fatal("the joined laptop lacks the photo of the multi-chunk snapshot")
	}
	nps := make([]store.NewPost, 2*ownLimit+10)
	for i := range nps {
		nps[i] = store.NewPost{Text: "many"}
	}
	if _, err := laptop.st.PublishMany(nps); err != nil {
		t.Fatal(err)
	}
	cl := ownClient(t, alice, laptop, alice.pub())
	for _, tt := range []struct {
		limit uint32
		want  int
		more  bool
	}{{1, 1, true}, {0, ownLimit, true}, {ownLimit + 1, ownLimit, true}} {
		r, err := cl.OwnChanges(ctxT(t), &syncv1.OwnChangesRequest{Limit: tt.limit})
		if err != nil || len(r.GetPosts()) != tt.want || r.GetMore() != tt.more {
			t.Fatalf("limit %d: %d posts, more %v, %v; want %d, %v", tt.limit, len(r.GetPosts()), r.GetMore(), err, tt.want, tt.more)
		}
	}
	res := pullOwn(t, alice, laptop, alice.pub())
	if res.Stored != len(nps) {
		t.Fatalf("the pull stored %d, want all %d over its pages", res.Stored, len(nps))
	}
	ds, err := laptop.st.Devices()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Key == alice.pub() && (d.LastSeen.IsZero() || d.Addr != alice.tr.Addr().String()) {
			t.Fatalf("the laptop's entry for alice's first device: seen %v at %q; want now at %s", d.LastSeen, d.Addr, alice.tr.Addr())
		}
	}
}
