// Package recovery seals and opens recovery kits: a person's friend list, groups,
// devices and the audience of every own post, encrypted to their own key and signed by
// it, that each of their friends keeps. With only their key, a person who lost
// everything gets the kit back from any friend, finds the others, gives every post back
// its own audience, and can revoke a lost device.
package recovery

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"time"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"
	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// Errors a caller may test for.
var (
	// ErrNotOwner means a kit is signed by, or belongs to, someone other than expected.
	ErrNotOwner = errors.New("recovery kit belongs to someone else")
	// ErrUnreadable means a kit verifies but does not decrypt with the owner's key.
	ErrUnreadable = errors.New("recovery kit does not decrypt with this key")
	// ErrVersion means a kit is of a format this kith does not read.
	ErrVersion = errors.New("recovery kit of an unknown format")
	// ErrTooLarge means a kit's contents exceed MaxContents.
	ErrTooLarge = errors.New("recovery kit too large")
)

// Version is the kit format Seal writes and Open reads: 3 adds the owner's devices and
// revocations (issue 16), so that a recovered identity can revoke a lost device.
const Version = 3

// MaxDevices and MaxRevocations bound the devices and revocations a kit carries (the
// store keeps no more: store.MaxDevices, store.MaxRevocations).
const (
	MaxDevices     = 64
	MaxRevocations = 256
)

// MaxContents bounds a kit's padded plaintext, under gRPC's 4 MiB message limit: about
// 60,000 posts with their audiences, or a few thousand friends.
const MaxContents = 3 << 20

// maxEnvelope bounds a signed kit's payload before any cryptography: MaxContents of
// plaintext, age's header and its 16 bytes a 64 KiB chunk, and the kit's own fields.
const maxEnvelope = MaxContents + 64<<10

// minPadded is the smallest size class: a kit of a few friends and posts looks like
// any other small kit.
const minPadded = 4 << 10

// Friend is one friend in a kit.
type Friend struct {
	Key    identity.PublicKey
	Name   string
	Addr   string
	Groups []string
}

// Post is what a kit keeps about one own post: who may see it, who ever saw it.
type Post struct {
	ID       post.ID
	Audience feed.Audience
	Shared   feed.Shared
	Created  time.Time
	// Summary is the start of the text of a post for the owner alone (no friend holds
	// it), so that recovery can name it; empty otherwise.
	Summary string
}

// Device is one of the owner's devices in a kit.
type Device struct {
	Key  identity.PublicKey
	Name string
	// Certificate is its marshalled device certificate, nil for the identity holder.
	Certificate []byte
	Revoked     bool
}

// Kit is what a person needs to find their friends again and give every post back its
// audience.
type Kit struct {
	// Name is the person's display name.
	Name string
	// Friends are the person's friends.
	Friends []Friend
	// Groups are every group, empty ones too.
	Groups []string
	// Posts are the own posts' audiences.
	Posts []Post
	// Created is when what the kit holds last changed; a holder keeps the newest.
	Created time.Time
	// LastSeq is the owner's changes-feed sequence number when the kit was made.
	LastSeq uint64
	// Devices are the owner's devices; Revocations the owner's signed revocations.
	Devices     []Device
	Revocations []*signedv1.Envelope
}

// Seal encrypts kit to k's own key and signs it with k.
func Seal(k *identity.Key, kit Kit) (*signedv1.Envelope, error) {
	plain, err := marshalContents(kit)
	if err != nil {
		return nil, fmt.Errorf("seal recovery kit: %w", err)
	}
	return sealPlain(k, kit.Created, plain)
}

// sealPlain encrypts marshalled contents to k's own key and signs the kit with k.
func sealPlain(k *identity.Key, created time.Time, plain []byte) (*signedv1.Envelope, error) {
	sshKey, err := ssh.NewPublicKey(ed25519.PublicKey(k.Public().Bytes()))
	if err != nil {
		return nil, fmt.Errorf("seal recovery kit: %w", err)
	}
	r, err := agessh.NewEd25519Recipient(sshKey)
	if err != nil {
		return nil, fmt.Errorf("seal recovery kit: %w", err)
	}
	var ct bytes.Buffer
	w, err := age.Encrypt(&ct, r)
	if err != nil {
		return nil, fmt.Errorf("seal recovery kit: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return nil, fmt.Errorf("seal recovery kit: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("seal recovery kit: %w", err)
	}
	return signed.Seal(k, identity.ContextRecoveryKit, &syncv1.RecoveryKit{
		Owner: k.Public().Bytes(), CreatedUnixMs: created.UnixMilli(), Ciphertext: ct.Bytes(), Version: Version})
}

// marshalContents encodes kit and pads it to its size class (a power of two from 4 KiB
// to 1 MiB, then a multiple of 256 KiB), so the ciphertext's size says little.
func marshalContents(kit Kit) ([]byte, error) {
	if len(kit.Devices) > MaxDevices || len(kit.Revocations) > MaxRevocations {
		return nil, fmt.Errorf("%w: %d devices, %d revocations (at most %d and %d)", ErrTooLarge, len(kit.Devices), len(kit.Revocations), MaxDevices, MaxRevocations)
	}
	contents := &syncv1.RecoveryKitContents{Name: kit.Name, Groups: kit.Groups, LastSeq: kit.LastSeq, Revocations: kit.Revocations}
	for _, d := range kit.Devices {
		contents.Devices = append(contents.Devices, &syncv1.KitDevice{Key: d.Key.Bytes(), Name: d.Name, Certificate: d.Certificate, Revoked: d.Revoked})
	}
	for _, f := range kit.Friends {
		contents.Friends = append(contents.Friends, &syncv1.KitFriend{Key: f.Key.Bytes(), Name: f.Name, Address: f.Addr, Groups: f.Groups})
	}
	for _, p := range kit.Posts {
		kp := &syncv1.KitPost{Id: p.ID[:], Me: p.Audience.Me, Friends: p.Audience.Friends, Public: p.Audience.Public,
			Groups: p.Audience.Groups, SharedPublic: p.Shared.Public, CreatedUnixMs: p.Created.UnixMilli(), Summary: p.Summary}
		for _, id := range p.Audience.People {
			k, err := identity.ParseID(string(id))
			if err != nil {
				return nil, fmt.Errorf("post %s: audience: %w", p.ID, err)
			}
			kp.People = append(kp.People, k.Bytes())
		}
		for _, id := range p.Shared.People {
			k, err := identity.ParseID(string(id))
			if err != nil {
				return nil, fmt.Errorf("post %s: shared: %w", p.ID, err)
			}
			kp.SharedPeople = append(kp.SharedPeople, k.Bytes())
		}
		contents.Posts = append(contents.Posts, kp)
	}
	plain, err := proto.Marshal(contents)
	if err != nil {
		return nil, err
	}
	// Padding is field 5, bytes: one tag byte, a varint length, the bytes.
	target := sizeClass(len(plain) + 8)
	if target > MaxContents {
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrTooLarge, len(plain), MaxContents)
	}
	contents.Padding = make([]byte, 0)
	for pad := target - len(plain) - 2; pad >= 0; pad-- {
		contents.Padding = make([]byte, pad)
		if n := proto.Size(contents); n <= target {
			break
		}
	}
	return proto.Marshal(contents)
}

// sizeClass is the padded size for n bytes.
func sizeClass(n int) int {
	c := minPadded
	for c < n && c < 1<<20 {
		c *= 2
	}
	if c >= n {
		return c
	}
	const step = 256 << 10
	return (n + step - 1) / step * step
}

// Verify checks that env is a kit signed by owner, without reading it: what a holder does
// before keeping a friend's kit. It returns the kit's creation time.
func Verify(env *signedv1.Envelope, owner identity.PublicKey) (time.Time, *syncv1.RecoveryKit, error) {
	if env == nil || !bytes.Equal(env.GetSigner(), owner[:]) {
		return time.Time{}, nil, fmt.Errorf("%w: not signed by %s", ErrNotOwner, owner.Short())
	}
	// A kit holds every post's audience: far more than signed.MaxPayload, the bound of
	// other records, for a person with a few thousand posts.
	if _, err := signed.Verify(env, identity.ContextRecoveryKit, maxEnvelope); errors.Is(err, signed.ErrTooLarge) {
		return time.Time{}, nil, fmt.Errorf("%w: %v", ErrTooLarge, err)
	} else if err != nil {
		return time.Time{}, nil, fmt.Errorf("%w: %v", ErrNotOwner, err)
	}
	var rk syncv1.RecoveryKit
	if err := proto.Unmarshal(env.GetPayload(), &rk); err != nil {
		return time.Time{}, nil, fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	if err := signed.CheckKeyField(owner, rk.GetOwner()); err != nil {
		return time.Time{}, nil, fmt.Errorf("%w: %v", ErrNotOwner, err)
	}
	if rk.GetVersion() != Version {
		return time.Time{}, nil, fmt.Errorf("%w: version %d, this kith reads %d", ErrVersion, rk.GetVersion(), Version)
	}
	return time.UnixMilli(rk.GetCreatedUnixMs()), &rk, nil
}

// Open verifies that env is k's own kit and decrypts it with k.
func Open(env *signedv1.Envelope, k *identity.Key) (Kit, error) {
	created, rk, err := Verify(env, k.Public())
	if err != nil {
		return Kit{}, err
	}
	id, err := agessh.NewEd25519Identity(k.PrivateKey())
	if err != nil {
		return Kit{}, fmt.Errorf("open recovery kit: %w", err)
	}
	r, err := age.Decrypt(bytes.NewReader(rk.GetCiphertext()), id)
	if err != nil {
		return Kit{}, fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, MaxContents+1))
	if err != nil || len(plain) > MaxContents {
		return Kit{}, fmt.Errorf("%w: damaged or too large", ErrUnreadable)
	}
	var contents syncv1.RecoveryKitContents
	if err := proto.Unmarshal(plain, &contents); err != nil {
		return Kit{}, fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	kit := Kit{Name: contents.GetName(), Created: created, Groups: contents.GetGroups(), LastSeq: contents.GetLastSeq()}
	for _, f := range contents.GetFriends() {
		key, err := identity.PublicKeyFromBytes(f.GetKey())
		if err != nil {
			return Kit{}, fmt.Errorf("%w: friend: %v", ErrUnreadable, err)
		}
		kit.Friends = append(kit.Friends, Friend{Key: key, Name: f.GetName(), Addr: f.GetAddress(), Groups: f.GetGroups()})
	}
	for _, kp := range contents.GetPosts() {
		p, err := openPost(kp)
		if err != nil {
			return Kit{}, fmt.Errorf("%w: %v", ErrUnreadable, err)
		}
		kit.Posts = append(kit.Posts, p)
	}
	if err := openDevices(&kit, &contents, k.Public()); err != nil {
		return Kit{}, fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	return kit, nil
}

// openDevices reads a kit's devices and revocations, checking each against the owner:
// a certificate must be the owner's for exactly the listed key, a revocation signed by
// the owner. The kit is signed by the owner too; the checks keep a damaged kit from
// handing a recovered home a device it would then trust.
func openDevices(kit *Kit, contents *syncv1.RecoveryKitContents, owner identity.PublicKey) error {
	if len(contents.GetDevices()) > MaxDevices || len(contents.GetRevocations()) > MaxRevocations {
		return fmt.Errorf("%d devices, %d revocations (at most %d and %d)", len(contents.GetDevices()), len(contents.GetRevocations()), MaxDevices, MaxRevocations)
	}
	for _, kd := range contents.GetDevices() {
		key, err := identity.PublicKeyFromBytes(kd.GetKey())
		if err != nil {
			return fmt.Errorf("device %q: %v", kd.GetName(), err)
		}
		d := Device{Key: key, Name: kd.GetName(), Certificate: kd.GetCertificate(), Revoked: kd.GetRevoked()}
		if err := checkDevice(d, owner); err != nil {
			return err
		}
		kit.Devices = append(kit.Devices, d)
	}
	for _, env := range contents.GetRevocations() {
		if _, err := device.OpenRevocation(env, owner); err != nil {
			return fmt.Errorf("revocation: %v", err)
		}
		kit.Revocations = append(kit.Revocations, env)
	}
	return nil
}

// checkDevice checks that d is the owner's: the identity itself without a certificate,
// any other key with the owner's certificate for exactly that key.
func checkDevice(d Device, owner identity.PublicKey) error {
	if d.Certificate == nil {
		if d.Key != owner {
			return fmt.Errorf("device %q: no certificate", d.Name)
		}
		return nil
	}
	var env signedv1.Envelope
	if err := proto.Unmarshal(d.Certificate, &env); err != nil {
		return fmt.Errorf("device %q: certificate: %v", d.Name, err)
	}
	c, err := device.Open(&env, owner)
	if err != nil {
		return fmt.Errorf("device %q: %v", d.Name, err)
	}
	if c.Key != d.Key {
		return fmt.Errorf("device %q: the certificate is for another key", d.Name)
	}
	return nil
}

// openPost decodes one post's entry of a kit.
func openPost(kp *syncv1.KitPost) (Post, error) {
	id, err := post.ParseID(kp.GetId())
	if err != nil {
		return Post{}, fmt.Errorf("post: %v", err)
	}
	p := Post{ID: id, Created: time.UnixMilli(kp.GetCreatedUnixMs()), Summary: kp.GetSummary(),
		Audience: feed.Audience{Me: kp.GetMe(), Friends: kp.GetFriends(), Public: kp.GetPublic(), Groups: kp.GetGroups()},
		Shared:   feed.Shared{Public: kp.GetSharedPublic()}}
	for _, b := range kp.GetPeople() {
		k, err := identity.PublicKeyFromBytes(b)
		if err != nil {
			return Post{}, fmt.Errorf("post %s: audience: %v", id, err)
		}
		p.Audience.People = append(p.Audience.People, k.ID())
	}
	for _, b := range kp.GetSharedPeople() {
		k, err := identity.PublicKeyFromBytes(b)
		if err != nil {
			return Post{}, fmt.Errorf("post %s: shared: %v", id, err)
		}
		p.Shared.People = append(p.Shared.People, k.ID())
	}
	return p, nil
}
