package store

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// joinT makes a joined device "laptop" of a new identity home: the identity home
// certifies it, snapshots, and the device imports the snapshot.
func joinT(t *testing.T) (first, laptop *Store, alice, dev *identity.Key) {
	t.Helper()
	first, laptop, alice, dev, _ = joinAtRestT(t, identity.KeyFileOptions{})
	return first, laptop, alice, dev
}

// joinAtRestT is joinT with the device key kept under opts (devkey.go); it also
// returns the laptop's home.
func joinAtRestT(t *testing.T, opts identity.KeyFileOptions) (first, laptop *Store, alice, dev *identity.Key, home string) {
	t.Helper()
	first, alice = initT(t)
	if _, err := first.Publish(NewPost{Text: "before the laptop joined"}); err != nil {
		t.Fatal(err)
	}
	dev = newKey(t)
	if _, err := first.AddDevice("laptop", dev.Public(), []byte("laptop01"), time.Hour); err != nil {
		t.Fatal(err)
	}
	cert, err := first.AddDevice("desktop", newKey(t).Public(), []byte("desktop1"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_ = cert
	devs, err := first.Devices()
	if err != nil {
		t.Fatal(err)
	}
	var lc []byte
	for _, d := range devs {
		if d.Name == "laptop" {
			lc = d.Certificate
		}
	}
	var snap bytes.Buffer
	if err := first.JoinSnapshot(&snap, nil); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(snap.Bytes(), alice.Seed()) {
		t.Fatal("the join snapshot carries the identity seed")
	}
	home = t.TempDir()
	d := Device{Certificate: lc}
	env, err := d.CertificateEnvelope()
	if err != nil || env == nil {
		t.Fatalf("laptop's certificate: %v", err)
	}
	if err := ImportDeviceAtRest(home, &snap, dev, env, opts); err != nil {
		t.Fatal(err)
	}
	return first, openT(t, home), alice, dev, home
}

// TestJoinedDeviceSignsAsThePerson: a joined home has the person's ID, no identity key,
// signs posts with its device key and certificate (friends open them with
// post.OpenChain), and refuses what needs the identity.
func TestJoinedDeviceSignsAsThePerson(t *testing.T) {
	first, laptop, alice, dev := joinT(t)
	self, err := laptop.Self()
	if err != nil || self != alice.Public() {
		t.Fatalf("Self = %v, %v; want alice", self, err)
	}
	if _, err := laptop.Key(); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("Key on a device = %v, want ErrNoIdentity", err)
	}
	if !laptop.IsDevice() || first.IsDevice() {
		t.Fatal("IsDevice: want the laptop a device and the first home not")
	}
	g, err := laptop.Signer()
	if err != nil || g.Key.Public() != dev.Public() || g.Certificate == nil || g.Person != alice.Public() {
		t.Fatalf("Signer = %+v, %v; want the device key with a certificate for alice", g, err)
	}
	if n, err := laptop.CountPosts(alice.Public()); err != nil || n != 1 {
		t.Fatalf("laptop holds %d own posts (%v), want the 1 from before it joined", n, err)
	}
	id, err := laptop.Publish(NewPost{Text: "from the laptop"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := laptop.Post(alice.Public(), id)
	if err != nil {
		t.Fatal(err)
	}
	p, c, err := post.OpenChain(st.Envelope, alice.Public(), nil)
	if err != nil || c.Key != dev.Public() || p.GetText() != "from the laptop" {
		t.Fatalf("OpenChain = %v, %+v, %v; want the laptop's post signed by its key", p, c, err)
	}
	if _, err := post.OpenFrom(st.Envelope, alice.Public()); err == nil {
		t.Fatal("a device-signed post opened as signed by the identity itself")
	}
	if err := laptop.Edit(id, "edited on the laptop"); err != nil {
		t.Fatal(err)
	}
	if err := laptop.Init(newKey(t), "x"); !errors.Is(err, ErrHasIdentity) {
		t.Fatalf("Init on a joined home = %v, want ErrHasIdentity", err)
	}
	if _, err := laptop.AddDevice("phone", newKey(t).Public(), []byte("phone001"), time.Hour); !errors.Is(err, ErrNeedIdentity) {
		t.Fatalf("AddDevice on a device = %v, want ErrNeedIdentity", err)
	}
	if _, err := laptop.RevokeDevice("desktop"); !errors.Is(err, ErrNeedIdentity) {
		t.Fatalf("RevokeDevice on a device = %v, want ErrNeedIdentity", err)
	}
	if _, err := laptop.RevokeDevice("laptop"); !errors.Is(err, ErrThisDevice) {
		t.Fatalf("RevokeDevice of itself = %v, want ErrThisDevice", err)
	}
	raw, err := os.ReadFile(filepath.Join(laptop.HomeDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, alice.Seed()) {
		t.Fatal("the joined home's file holds the identity seed")
	}
}

// TestDeviceList: the list names every device, this one first; names are unique;
// last-seen moves forward only; revoking keeps a verified revocation and refuses the
// device the home runs as.
func TestDeviceList(t *testing.T) {
	first, laptop, alice, dev := joinT(t)
	names := func(s *Store) string {
		t.Helper()
		ds, err := s.Devices()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range ds {
			out = append(out, d.Name)
		}
		return strings.Join(out, ",")
	}
	if got := names(first); got != "first,desktop,laptop" {
		t.Fatalf("first's list = %s", got)
	}
	if got := names(laptop); got != "laptop,desktop,first" {
		t.Fatalf("laptop's list = %s", got)
	}
	if _, err := first.AddDevice("laptop", newKey(t).Public(), []byte("laptop02"), time.Hour); !errors.Is(err, ErrDeviceExists) {
		t.Fatalf("a second laptop = %v, want ErrDeviceExists", err)
	}
	if _, err := first.AddDevice("again", dev.Public(), []byte("laptop02"), time.Hour); !errors.Is(err, ErrDeviceExists) {
		t.Fatalf("the laptop's key again = %v, want ErrDeviceExists", err)
	}
	if _, err := first.AddDevice("me", alice.Public(), []byte("laptop02"), time.Hour); !errors.Is(err, ErrDeviceExists) {
		t.Fatalf("the identity as a device = %v, want ErrDeviceExists", err)
	}
	seen := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	if err := first.SeenDevice(dev.Public(), seen); err != nil {
		t.Fatal(err)
	}
	if err := first.SeenDevice(dev.Public(), seen.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	ds, _ := first.Devices()
	for _, d := range ds {
		if d.Name == "laptop" && !d.LastSeen.Equal(seen) {
			t.Fatalf("laptop last seen %v, want %v (never earlier)", d.LastSeen, seen)
		}
	}
	if _, err := first.RevokeDevice("first"); !errors.Is(err, ErrThisDevice) {
		t.Fatalf("revoking the identity's own device = %v, want ErrThisDevice", err)
	}
	if _, err := first.RevokeDevice("nosuch"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoking an unknown device = %v, want ErrNotFound", err)
	}
	if !first.IsOwnDevice(dev.Public()) {
		t.Fatal("the laptop is not an own device before its revocation")
	}
	if _, err := first.RevokeDevice("laptop"); err != nil {
		t.Fatal(err)
	}
	if first.IsOwnDevice(dev.Public()) {
		t.Fatal("the laptop is still an own device after its revocation")
	}
	rs, err := first.Revocations(alice.Public())
	if err != nil || len(rs) != 1 || rs[0].Key != dev.Public() {
		t.Fatalf("revocations = %+v, %v; want the laptop's", rs, err)
	}
	g, _ := laptop.Signer()
	if _, err := device.Check(alice.Public(), dev.Public(), g.Certificate, rs, time.Now().Add(time.Second)); !errors.Is(err, device.ErrRevoked) {
		t.Fatalf("the laptop after revocation: %v, want ErrRevoked", err)
	}
}

// TestImportDeviceRefusesAnotherPerson: a snapshot of one person cannot become a
// device of another, and nothing is left behind.
func TestImportDeviceRefusesAnotherPerson(t *testing.T) {
	first, _ := initT(t)
	var snap bytes.Buffer
	if err := first.JoinSnapshot(&snap, nil); err != nil {
		t.Fatal(err)
	}
	mallory, dev := newKey(t), newKey(t)
	cert, err := device.Issue(mallory, dev.Public(), []byte("devic001"), time.Now().Add(-time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	if err := ImportDevice(home, &snap, dev, cert); !errors.Is(err, ErrBadExport) {
		t.Fatalf("ImportDevice of another person's snapshot = %v, want ErrBadExport", err)
	}
	if _, err := os.Stat(filepath.Join(home, FileName)); !os.IsNotExist(err) {
		t.Fatalf("a refused import left a store behind: %v", err)
	}
}

// TestApplyOwn: what another device serves is stored in order under its cursor; an
// older answer than one applied changes nothing; a version held already is no new log
// entry; friends, groups and revoked marks merge; bad lists are refused whole.
func TestApplyOwn(t *testing.T) {
	first, laptop, alice, dev := joinT(t)
	for _, s := range []*Store{first, laptop} {
		if err := s.AddGroup("family"); err != nil {
			t.Fatal(err)
		}
	}
	id, err := laptop.Publish(NewPost{Text: "from the laptop", Audience: feed.Audience{Groups: []string{"family"}}})
	if err != nil {
		t.Fatal(err)
	}
	pg, err := laptop.OwnSince(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(pg.Posts) != 2 || pg.More {
		t.Fatalf("OwnSince(0) = %d posts, more %v; want 2, false", len(pg.Posts), pg.More)
	}
	if small, _ := laptop.OwnSince(0, 1); len(small.Posts) != 1 || !small.More || small.Last >= pg.Last {
		t.Fatalf("OwnSince(0, 1) = %d posts, more %v, last %d; want 1, true, before %d", len(small.Posts), small.More, small.Last, pg.Last)
	}
	batch := func(pg OwnPage) OwnBatch {
		t.Helper()
		b := OwnBatch{Lists: pg.Lists, Devices: pg.Devices, Cursor: pg.Last}
		for _, e := range pg.Posts {
			p, _, err := post.OpenChain(e.Envelope, alice.Public(), nil)
			if err != nil {
				t.Fatal(err)
			}
			b.Posts = append(b.Posts, OwnVerified{Envelope: e.Envelope, Payload: p, Audience: e.Audience})
		}
		return b
	}
	carol := newKey(t)
	b := batch(pg)
	b.Lists.Friends = append(b.Lists.Friends, FriendEntry{Friend: Friend{Key: carol.Public(), Name: "carol", Groups: []string{"family"}}, Stamp: Stamp{MS: 1, Dev: dev.Public()}})
	b.Lists.Groups = append(b.Lists.Groups, GroupEntry{Name: "work", Stamp: Stamp{MS: 1, Dev: dev.Public()}})
	n, err := first.ApplyOwn(dev.Public(), b)
	if err != nil || n.Posts != 1 {
		t.Fatalf("ApplyOwn = %d, %v; want the laptop's one new post", n, err)
	}
	before, _ := first.LastSeq()
	if n, err := first.ApplyOwn(dev.Public(), b); err != nil || n.Posts != 0 {
		t.Fatalf("the same answer again: %d, %v; want nothing stored", n, err)
	}
	if after, _ := first.LastSeq(); after != before {
		t.Fatalf("the log grew from %d to %d on versions held already (an echo)", before, after)
	}
	got, err := first.Post(alice.Public(), id)
	if err != nil || got.Audience.String() != "group:family" {
		t.Fatalf("first holds %v with audience %q, %v", got.Payload, got.Audience, err)
	}
	if f, err := first.Friend(carol.Public()); err != nil || f.Name != "carol" {
		t.Fatalf("carol on first = %+v, %v", f, err)
	}
	if gs, _ := first.Groups(); !slices.Contains(gs, "work") {
		t.Fatalf("groups on first = %v, want work too", gs)
	}
	if cur, _ := first.Cursor(dev.Public()); cur != pg.Last {
		t.Fatalf("cursor = %d, want %d", cur, pg.Last)
	}
	if err := laptop.Edit(id, "edited"); err != nil {
		t.Fatal(err)
	}
	old := batch(pg)
	old.Cursor = pg.Last - 1
	if n, err := first.ApplyOwn(dev.Public(), old); err != nil || n.Posts != 0 {
		t.Fatalf("an older answer: %d, %v; want nothing stored", n, err)
	}
	newer, _ := laptop.OwnSince(pg.Last, 100)
	if n, err := first.ApplyOwn(dev.Public(), batch(newer)); err != nil || n.Posts != 1 {
		t.Fatalf("the edit: %d, %v", n, err)
	}
	if got, _ := first.Post(alice.Public(), id); got.Payload.GetVersion() != 2 {
		t.Fatalf("first holds version %d, want 2", got.Payload.GetVersion())
	}
	// A revoked mark travels; an unknown device is added; a revocation is never undone.
	if _, err := first.RevokeDevice("desktop"); err != nil {
		t.Fatal(err)
	}
	fpg, _ := first.OwnSince(0, 100)
	if _, err := laptop.ApplyOwn(alice.Public(), OwnBatch{Devices: fpg.Devices, Cursor: fpg.Last}); err != nil {
		t.Fatal(err)
	}
	ds, _ := laptop.Devices()
	for _, d := range ds {
		if d.Name == "desktop" && !d.Revoked {
			t.Fatal("the desktop's removal did not reach the laptop")
		}
	}
	for i := range fpg.Devices {
		fpg.Devices[i].Revoked = false
	}
	laptop.ApplyOwn(alice.Public(), OwnBatch{Devices: fpg.Devices, Cursor: fpg.Last})
	ds, _ = laptop.Devices()
	for _, d := range ds {
		if d.Name == "desktop" && !d.Revoked {
			t.Fatal("a device list without the mark undid a removal")
		}
	}
}

// TestOwnListsParse: the wire lists round-trip and bad entries are refused.
func TestOwnListsParse(t *testing.T) {
	k := newKey(t).Public()
	fb, err := MarshalLists(Lists{Friends: []FriendEntry{{Friend: Friend{Key: k, Name: "bob", Groups: []string{"family"}, Addr: "127.0.0.1:1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := ParseLists(ListsVersion, fb, time.Now())
	if err != nil || len(l.Friends) != 1 || l.Friends[0].Key != k || l.Friends[0].Name != "bob" {
		t.Fatalf("ParseLists = %+v, %v", l, err)
	}
	db, err := MarshalDevices([]Device{{Key: k, Name: "laptop", Revoked: true}})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := ParseDevices(db)
	if err != nil || len(ds) != 1 || ds[0].Key != k || !ds[0].Revoked {
		t.Fatalf("ParseDevices = %+v, %v", ds, err)
	}
	many := make([]Device, MaxDevices+1)
	for i := range many {
		many[i] = Device{Key: k, Name: "d"}
	}
	mb, _ := MarshalDevices(many)
	for name, f := range map[string]func() error{
		"devices: not JSON":        func() error { _, err := ParseDevices([]byte("[")); return err },
		"devices: short key":       func() error { _, err := ParseDevices([]byte(`[{"key":"AAE="}]`)); return err },
		"devices: more than a max": func() error { _, err := ParseDevices(mb); return err },
	} {
		if f() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestExportImportDevice: a joined device's export imports as that device again.
func TestExportImportDevice(t *testing.T) {
	_, laptop, alice, dev := joinT(t)
	var buf bytes.Buffer
	if err := laptop.Export(&buf, nil); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	if err := Import(home, &buf); err != nil {
		t.Fatalf("importing a device's export: %v", err)
	}
	st := openT(t, home)
	g, err := st.Signer()
	if err != nil || g.Person != alice.Public() || g.Key.Public() != dev.Public() {
		t.Fatalf("the imported device signs as %+v, %v", g, err)
	}
}
